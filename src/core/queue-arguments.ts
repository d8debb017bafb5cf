/**
 * RabbitMQ's queue arguments (`x-message-ttl`, `x-dead-letter-exchange`...) as core reads them, in
 * its own names; the adapter turns the 0-9-1 field table into this.
 */
export interface QueueArguments {
  /** Milliseconds a message may wait in this queue; its expiry is the earlier of this and its own. */
  readonly messageTtl?: number | undefined;
  /** Milliseconds the queue may stay unused (no consumer, no redeclare) before it is deleted. */
  readonly expires?: number | undefined;
  /** Where a message rejected without requeue, expired, or dropped by overflow is republished. */
  readonly deadLetterExchange?: string | undefined;
  /** The routing key of that republish (default: the message's own). */
  readonly deadLetterRoutingKey?: string | undefined;
  /** Most messages waiting (ready) in the queue. */
  readonly maxLength?: number | undefined;
  /** Most bytes of bodies waiting (ready) in the queue. */
  readonly maxLengthBytes?: number | undefined;
  /** What happens past a maximum: drop (or dead-letter) the oldest, or refuse the publish. Default `drop-head`. */
  readonly overflow?: 'drop-head' | 'reject-publish' | 'reject-publish-dlx' | undefined;
  /**
   * Priorities 0..maxPriority (at most 9, core's range: a higher message priority counts as the
   * maximum). Without it the queue is first in, first out and ignores message priority, as RabbitMQ.
   */
  readonly maxPriority?: number | undefined;
  /** One consumer gets everything; when it goes, the next in order of subscription takes over. */
  readonly singleActiveConsumer?: boolean | undefined;
  /**
   * Most times a message may come back (requeued, or its consumer gone) before it is dead-lettered
   * (reason `delivery_limit`) instead, as RabbitMQ's quorum queues count; without it, no maximum.
   */
  readonly deliveryLimit?: number | undefined;
}

export interface QueueSpec {
  /** `''` asks the broker to name it (`amq.gen-...`); names starting `amq.` are otherwise reserved. */
  readonly name: string;
  /** Kept with its spec in the store and back after a restart; a non-durable queue is gone after one. */
  readonly durable: boolean;
  /** Owned by the declaring connection: deleted when it closes; others get FERRY_RESOURCE_LOCKED. */
  readonly exclusive: boolean;
  /** Deleted when its last consumer goes, once it has had one. */
  readonly autoDelete: boolean;
  readonly arguments: QueueArguments;
}

/** What `declareQueue` answers (0-9-1's queue.declare-ok). */
export interface QueueDeclared {
  readonly name: string;
  /** Messages waiting (ready, not in flight). */
  readonly messageCount: number;
  readonly consumerCount: number;
}

export interface DeleteQueueOptions {
  /** Refuse (FERRY_PRECONDITION_FAILED) when the queue has consumers. */
  readonly ifUnused: boolean;
  /** Refuse (FERRY_PRECONDITION_FAILED) when messages wait in it. */
  readonly ifEmpty: boolean;
}

/** A declared queue's own state, kept on its `MessageQueue`. */
export interface DeclaredQueue {
  readonly spec: QueueSpec;
  /** The id of the connection an exclusive queue belongs to. */
  readonly owner: string | undefined;
  /** Has had a consumer: an auto-delete queue goes when its last one does, not before. */
  hadConsumer: boolean;
  /** The `expires` timer armed while the queue is unused. */
  expiry: { cancelled: boolean } | undefined;
}

const OVERFLOWS = ['drop-head', 'reject-publish', 'reject-publish-dlx'] as const;

/** Checks arguments as RabbitMQ does (FERRY_PRECONDITION_FAILED names the bad one). */
export function validateQueueArguments(args: QueueArguments, fail: (message: string) => Error): void {
  const wholeAtLeast = (name: string, value: number | undefined, min: number): void => {
    if (value !== undefined && (!Number.isInteger(value) || value < min)) throw fail(`invalid queue argument ${name}: ${value} (an integer of at least ${min})`);
  };
  wholeAtLeast('messageTtl', args.messageTtl, 0);
  wholeAtLeast('expires', args.expires, 1);
  wholeAtLeast('maxLength', args.maxLength, 0);
  wholeAtLeast('maxLengthBytes', args.maxLengthBytes, 0);
  wholeAtLeast('maxPriority', args.maxPriority, 0);
  wholeAtLeast('deliveryLimit', args.deliveryLimit, 0);
  if (args.maxPriority !== undefined && args.maxPriority > 255) throw fail(`invalid queue argument maxPriority: ${args.maxPriority} (at most 255)`);
  if (args.overflow !== undefined && !OVERFLOWS.includes(args.overflow)) throw fail(`invalid queue argument overflow: ${String(args.overflow)}`);
  if (args.deadLetterRoutingKey !== undefined && args.deadLetterExchange === undefined) {
    throw fail('queue argument deadLetterRoutingKey needs deadLetterExchange');
  }
}

/** Each argument by its 0-9-1 name, with the value a declaration without it stands for. */
const ARGUMENT_NAMES: readonly (readonly [keyof QueueArguments, string, unknown])[] = [
  ['messageTtl', 'x-message-ttl', undefined],
  ['expires', 'x-expires', undefined],
  ['deadLetterExchange', 'x-dead-letter-exchange', undefined],
  ['deadLetterRoutingKey', 'x-dead-letter-routing-key', undefined],
  ['maxLength', 'x-max-length', undefined],
  ['maxLengthBytes', 'x-max-length-bytes', undefined],
  ['overflow', 'x-overflow', 'drop-head'],
  ['maxPriority', 'x-max-priority', undefined],
  ['singleActiveConsumer', 'x-single-active-consumer', false],
  ['deliveryLimit', 'x-delivery-limit', undefined],
];

/**
 * Why a redeclaration of a queue does not agree with the queue (RabbitMQ's equivalence check), in
 * RabbitMQ's words, which name the flag or argument, so that a client that changed one (Celery's
 * `x-max-priority`, say) is told which; undefined when they agree.
 */
export function queueSpecDifference(have: QueueSpec, wanted: QueueSpec): string | undefined {
  const differs = (name: string, received: unknown, current: unknown): string =>
    `inequivalent arg '${name}' for queue "${have.name}": received ${shown(received)} but current is ${shown(current)}`;
  if (have.durable !== wanted.durable) return differs('durable', wanted.durable, have.durable);
  if (have.autoDelete !== wanted.autoDelete) return differs('auto_delete', wanted.autoDelete, have.autoDelete);
  for (const [key, name, absent] of ARGUMENT_NAMES) {
    const current = have.arguments[key] ?? absent;
    const received = wanted.arguments[key] ?? absent;
    if (current !== received) return differs(name, received, current);
  }
  return undefined;
}

function shown(value: unknown): string {
  return value === undefined ? 'none' : `'${String(value)}'`;
}

/** What a queue made on first use (by a send or a subscribe of another protocol) counts as when declared. */
export function firstUseSpec(name: string): QueueSpec {
  return { name, durable: true, exclusive: false, autoDelete: false, arguments: {} };
}
