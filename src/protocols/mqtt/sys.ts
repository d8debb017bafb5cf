import type { BrokerAccess, BrokerStats } from '../../core/index.js';
import type { SessionStates } from './session-state.js';

const VERSION = '0.1.0';

/**
 * Publishes the broker's statistics under `$SYS/broker/...` every interval, with the topic names
 * Mosquitto uses, so dashboards written for it work. Not retained: a subscriber hears them at the
 * next interval.
 */
export class SysPublisher {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  constructor(
    private readonly broker: BrokerAccess,
    private readonly states: SessionStates,
    private readonly counters: { readonly received: number; readonly sent: number },
    private readonly interval: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.publish(), this.interval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private publish(): void {
    if (!this.broker.isRunning) {
      this.stop();
      return;
    }
    this.states.withInternal(this.broker, ({ connection }) => this.publishFrom(connection.brokerStats(), connection.retainedCount()));
  }

  private publishFrom(stats: BrokerStats, retained: number): void {
    let subscriptions = 0;
    for (const topic of stats.topics) subscriptions += topic.subscriptions;
    let queued = 0;
    for (const queue of stats.queues) queued += queue.pending;
    for (const durable of stats.durableSubscriptions) queued += durable.pending;
    const values: [string, string][] = [
      ['version', `Ferry ${VERSION}`],
      ['uptime', `${Math.floor((Date.now() - this.started) / 1000)} seconds`],
      ['clients/connected', String(stats.connections)],
      ['subscriptions/count', String(subscriptions)],
      ['retained messages/count', String(retained)],
      ['messages/received', String(this.counters.received)],
      ['messages/sent', String(this.counters.sent)],
      ['messages/stored', String(queued)],
    ];
    for (const [name, value] of values) {
      const topic = `$SYS.broker.${name.replace(/\//g, '.')}`;
      if (!this.states.publish(this.broker, { destination: { kind: 'topic', name: topic }, body: Buffer.from(value, 'utf8'), bodyKind: 'text' }, false)) return;
    }
  }
}
