import type { Destinations } from './destinations.js';
import type { RetainedMessages } from './retained.js';
import type { TopicSubscriptions } from './subscriptions.js';
import type { TimerQueue } from './timers.js';

export interface SweptParts {
  readonly destinations: Destinations;
  readonly subscriptions: TopicSubscriptions;
  readonly timers: TimerQueue;
  readonly clock: () => number;
  /** Ms between expiry sweeps. */
  readonly expirySweepInterval: number;
  /** Ms a topic may go unused before it is forgotten; 0: never. */
  readonly idleTopicTimeout: number;
  /** False once the broker stops: the sweeps end with it. */
  running(): boolean;
  retained(): RetainedMessages;
}

/**
 * The broker's periodic sweeps, on its one timer: expired messages out of every queue and durable
 * subscription, and topics nothing uses forgotten.
 */
export class PeriodicSweeps {
  constructor(private readonly parts: SweptParts) {}

  start(): void {
    this.sweepExpired();
    this.sweepIdleTopics();
  }

  private sweepExpired(): void {
    const { destinations, subscriptions, timers, clock, expirySweepInterval } = this.parts;
    if (!this.parts.running()) return;
    const now = clock();
    for (const queue of destinations.queues.values()) queue.sweepExpired(now);
    for (const queue of subscriptions.durableQueues()) queue.sweepExpired(now);
    timers.at(now + expirySweepInterval, () => this.sweepExpired());
  }

  private sweepIdleTopics(): void {
    const { destinations, subscriptions, timers, clock, idleTopicTimeout } = this.parts;
    if (!this.parts.running() || idleTopicTimeout === 0) return;
    const retained = this.parts.retained();
    destinations.sweepIdleTopics((name) => subscriptions.countMatching(name) > 0 || retained.has(name));
    timers.at(clock() + idleTopicTimeout, () => this.sweepIdleTopics());
  }
}
