import { matchesPattern } from './address.js';
import type { SlowConsumerPolicy } from './slow-consumer.js';

/** What happens to a destination's messages when delivery fails or they expire. */
export interface DestinationPolicy {
  /** Redeliveries allowed before a message is dead-lettered; -1 for no limit (ActiveMQ's default is 6). */
  readonly maxRedeliveries: number;
  /** Milliseconds before the first redelivery. */
  readonly redeliveryDelay: number;
  /** Each further redelivery waits this many times longer than the one before. */
  readonly backoffMultiplier: number;
  /** Upper bound of the redelivery delay; 0 for none. */
  readonly maxRedeliveryDelay: number;
  /** The shared dead-letter queue. */
  readonly deadLetterQueue: string;
  /** Dead-letter into `<individualDeadLetterPrefix><destination>` instead of the shared queue. */
  readonly individualDeadLetter: boolean;
  readonly individualDeadLetterPrefix: string;
  /** Non-persistent messages are dropped instead of dead-lettered unless this is set (ActiveMQ's default). */
  readonly deadLetterNonPersistent: boolean;
  /** Expired messages go to the dead-letter queue (true, ActiveMQ's default) or are dropped. */
  readonly expiredToDeadLetter: boolean;
  /** Makes a queue a last-value queue: of waiting messages with the same value of this property, only the newest stays. */
  readonly lastValueKey: string | undefined;
  /** Distinct duplicate-detection ids remembered per destination. */
  readonly duplicateWindow: number;
  /** Waiting messages past which a non-durable topic subscription is a slow consumer; 0: no limit. */
  readonly pendingMessageLimit: number;
  /** What a slow consumer costs: `notify` (a log line and a count), `abort` (its connection closed after the grace), `evict-oldest`. */
  readonly slowConsumerPolicy: SlowConsumerPolicy;
  /** ms an `abort` slow consumer has to catch up before its connection is closed. */
  readonly slowConsumerGrace: number;
  /** ms a delivery may stay unacknowledged before it returns to the queue as a counted redelivery; 0: no time-out. */
  readonly ackTimeout: number;
  /** Bytes a queue's waiting messages hold (`heldBytes`) before `memoryPolicy` applies; 0: no limit. */
  readonly memoryLimit: number;
  /**
   * A queue at its memoryLimit: `page` keeps taking (persistent bodies, and non-persistent ones
   * sent to the queue past the limit, wait on disk past store.bodyCacheSize), `block` holds the queue's producers until it has room (producer flow
   * control, see `ProducerFlow`), `fail` refuses sends with FERRY_DESTINATION_FULL, `drop-oldest`
   * discards the oldest waiting messages (a bounded ring).
   */
  readonly memoryPolicy: 'page' | 'block' | 'fail' | 'drop-oldest';
}

export const defaultPolicy: DestinationPolicy = {
  maxRedeliveries: 6,
  redeliveryDelay: 0,
  backoffMultiplier: 1,
  maxRedeliveryDelay: 0,
  deadLetterQueue: 'ActiveMQ.DLQ',
  individualDeadLetter: false,
  individualDeadLetterPrefix: 'DLQ.',
  deadLetterNonPersistent: false,
  expiredToDeadLetter: true,
  lastValueKey: undefined,
  duplicateWindow: 10_000,
  pendingMessageLimit: 0,
  slowConsumerPolicy: 'notify',
  slowConsumerGrace: 5_000,
  ackTimeout: 0,
  memoryLimit: 0,
  memoryPolicy: 'page',
};

export interface PolicyRule extends Partial<DestinationPolicy> {
  /** Destination names this rule applies to; wildcards `*` and `>` as in subscriptions. */
  readonly match: string;
  /** Restricts the rule to queues or topics; both when absent. */
  readonly kind?: 'queue' | 'topic' | undefined;
}

/**
 * Resolves a destination's policy: the defaults, then every matching rule in the order given, each
 * overriding the fields it sets. List general rules first and specific ones after.
 */
export class PolicyBook {
  /** Some rule sets memoryPolicy fail: only then must a topic send look for a full subscription. */
  readonly refusesWhenFull: boolean;

  constructor(
    private readonly rules: readonly PolicyRule[],
    private readonly base: DestinationPolicy = defaultPolicy,
  ) {
    this.refusesWhenFull = base.memoryPolicy === 'fail' || rules.some((rule) => rule.memoryPolicy === 'fail');
  }

  resolve(kind: 'queue' | 'topic', name: string): DestinationPolicy {
    let policy = this.base;
    for (const rule of this.rules) {
      if (rule.kind !== undefined && rule.kind !== kind) continue;
      if (!matchesPattern(rule.match, name)) continue;
      const { match: _match, kind: _kind, ...fields } = rule;
      const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
      policy = { ...policy, ...defined };
    }
    return policy;
  }

  /**
   * True for a queue some policy dead-letters into: a shared dead-letter queue, a name under the
   * default individual prefix, or a rule's individual prefix followed by a destination whose policy
   * dead-letters there.
   */
  isDeadLetterQueue(name: string): boolean {
    if (name === this.base.deadLetterQueue) return true;
    if (this.rules.some((r) => r.deadLetterQueue === name) || name.startsWith(this.base.individualDeadLetterPrefix)) return true;
    for (const rule of this.rules) {
      const prefix = rule.individualDeadLetterPrefix;
      if (prefix === undefined || !name.startsWith(prefix) || name.length === prefix.length) continue;
      const origin = name.slice(prefix.length);
      for (const kind of ['queue', 'topic'] as const) {
        const policy = this.resolve(kind, origin);
        if (policy.individualDeadLetter && policy.individualDeadLetterPrefix === prefix) return true;
      }
    }
    return false;
  }
}

/** The delay before redelivery number `redeliveries` (1 for the first). */
export function redeliveryDelay(policy: DestinationPolicy, redeliveries: number): number {
  if (policy.redeliveryDelay <= 0 || redeliveries <= 0) return 0;
  const delay = policy.redeliveryDelay * policy.backoffMultiplier ** (redeliveries - 1);
  return policy.maxRedeliveryDelay > 0 ? Math.min(delay, policy.maxRedeliveryDelay) : delay;
}
