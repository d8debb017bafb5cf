/** Where a message goes or comes from. Temporary destinations belong to one connection. */
export interface Destination {
  readonly kind: 'queue' | 'topic';
  readonly name: string;
  readonly temporary?: boolean;
}

export type BodyKind = 'text' | 'bytes' | 'map' | 'stream' | 'object';

/** User property values keep their JMS type where JavaScript can tell: bigint is a long. */
export type PropertyValue = string | number | boolean | bigint | Buffer | null;

/**
 * One message as core sees it, whatever protocol brought it. Immutable once it is routed: the same
 * object is shared by every queue and subscription it reaches, so per-delivery state (delivery
 * count, which consumer has it) lives on the queue entry, never here.
 */
export interface Message {
  readonly id: string;
  readonly destination: Destination;
  readonly body: Buffer;
  readonly bodyKind: BodyKind;
  readonly persistent: boolean;
  /** 0–9, 4 is the JMS default. */
  readonly priority: number;
  /** Epoch milliseconds after which the message must not be delivered; 0 means never. */
  readonly expiration: number;
  readonly timestamp: number;
  readonly correlationId?: string;
  readonly replyTo?: Destination;
  readonly type?: string;
  readonly groupId?: string;
  readonly groupSeq?: number;
  readonly properties: ReadonlyMap<string, PropertyValue>;
  /** Connection that produced it, for no-local subscriptions; not persisted. */
  readonly originConnectionId?: string;
  /**
   * Encodings of this message made by protocol adapters, keyed by a name each adapter chooses, so
   * that a message fanned out to many consumers of one protocol is encoded once. Core never reads it.
   */
  encodings?: Map<string, unknown>;
}

export interface MessageInit {
  destination: Destination;
  body: Buffer;
  bodyKind?: BodyKind;
  persistent?: boolean;
  priority?: number;
  expiration?: number;
  timestamp?: number;
  correlationId?: string | undefined;
  replyTo?: Destination | undefined;
  type?: string | undefined;
  groupId?: string | undefined;
  groupSeq?: number | undefined;
  properties?: ReadonlyMap<string, PropertyValue>;
  originConnectionId?: string;
  id?: string;
}

const noProperties: ReadonlyMap<string, PropertyValue> = new Map();

export function clampPriority(priority: number): number {
  if (!Number.isFinite(priority)) return 4;
  return Math.min(9, Math.max(0, Math.trunc(priority)));
}

/** Builds a Message; `id` is given by the broker when absent. */
export function buildMessage(init: MessageInit, id: string, now: number): Message {
  const message: {
    -readonly [K in keyof Message]: Message[K];
  } = {
    id: init.id ?? id,
    destination: init.destination,
    body: init.body,
    bodyKind: init.bodyKind ?? 'bytes',
    persistent: init.persistent ?? false,
    priority: clampPriority(init.priority ?? 4),
    expiration: init.expiration ?? 0,
    timestamp: init.timestamp ?? now,
    properties: init.properties ?? noProperties,
  };
  if (init.correlationId !== undefined) message.correlationId = init.correlationId;
  if (init.replyTo !== undefined) message.replyTo = init.replyTo;
  if (init.type !== undefined) message.type = init.type;
  if (init.groupId !== undefined) message.groupId = init.groupId;
  if (init.groupSeq !== undefined) message.groupSeq = init.groupSeq;
  if (init.originConnectionId !== undefined) message.originConnectionId = init.originConnectionId;
  return message;
}

export function isExpired(message: Message, now: number): boolean {
  return message.expiration !== 0 && message.expiration <= now;
}
