import type { BodyCacheStats } from './body-cache.js';
import type { AckMode } from './consumer.js';
import type { Destination, PropertyChanges } from './message.js';
import type { QueueStats } from './queue-types.js';
import type { DeliverySink } from './sink.js';
import type { OverlapMember } from './overlap.js';
import type { StoreStats } from '../store/index.js';

/** What the client says about itself, as its protocol carries it. */
export interface Credentials {
  readonly username?: string | undefined;
  readonly password?: string | Buffer | undefined;
  /** A management API token (`Authorization: Bearer`). */
  readonly token?: string | undefined;
  /** The client asks to be who its verified TLS certificate says it is (SASL EXTERNAL). */
  readonly external?: boolean | undefined;
  /**
   * A SASL exchange begun with `BrokerAccess.startSasl` that has proved who the client is
   * (SCRAM-SHA-256): the authenticator that made it recognises it.
   */
  readonly exchange?: SaslExchange | undefined;
}

/**
 * A challenge-response login (SCRAM-SHA-256) as core runs it, so that every protocol carrying
 * SASL messages (AMQP 1.0 sasl-init/response, MQTT 5 AUTH) shares one implementation. The adapter
 * hands each client message to `respond` and sends back what it resolves to; once done, it passes
 * `{ exchange }` as the credentials of its connect (or reauthenticate).
 */
export interface SaslExchange {
  readonly mechanism: string;
  /**
   * Takes the client's next message. Resolves with the server's next challenge, or with `done` and
   * the server's final data (SCRAM's server-final message) once the client is proved; rejects with
   * FERRY_AUTHENTICATION_FAILED when it is not, or FERRY_SASL_MALFORMED for a message that breaks
   * the mechanism's rules.
   */
  respond(message: Buffer): Promise<SaslStep>;
  /** The proved user name once done, undefined before. */
  readonly username: string | undefined;
}

export type SaslStep = { readonly done: false; readonly challenge: Buffer } | { readonly done: true; readonly additionalData: Buffer | undefined };

/** What the transport knows of the client, which authentication may use (an address rule, a certificate). */
export interface TransportFacts {
  readonly remoteAddress: string;
  /** The verified certificate the client presented on a TLS listener that asked for one. */
  readonly peerCertificate?: PeerCertificate | undefined;
}

export interface PeerCertificate {
  readonly subject: string;
  readonly subjectAltNames: readonly string[];
  readonly fingerprint256: string;
}

export interface ConnectRequest {
  readonly protocol: string;
  readonly transport: TransportFacts;
  readonly credentials?: Credentials | undefined;
  readonly clientId?: string | undefined;
  /**
   * What the client calls itself without claiming it as a client id (an AMQP container id, which
   * owns its durable subscriptions all the same): connection watchers are told it as the client id.
   */
  readonly name?: string | undefined;
  /**
   * When another connection holds the client id, close it (it hears of it through `onEvicted`)
   * instead of refusing this one: `true` when the holder is of the same user (or this one is the
   * broker's own), `'from-anyone'` whoever holds it over the same protocol, for a protocol whose
   * rule that is (see `ClientIds`).
   */
  readonly takeOver?: boolean | 'from-anyone' | undefined;
  /**
   * A connection the protocol adapter opens for itself (MQTT's wills and `$SYS` statistics, the
   * clean-up of an expired session): it acts as the broker, not as a client.
   */
  readonly internal?: boolean | undefined;
}

/** Who a connection acts for, once authenticated. */
export interface Principal {
  /** Undefined for an anonymous client. */
  readonly username: string | undefined;
  readonly groups: readonly string[];
  readonly internal: boolean;
}

/**
 * Decides who may connect. The default accepts everyone as who they say they are; security plugs
 * its own in through `BrokerOptions.authenticator`.
 */
export interface Authenticator {
  /** Resolves to the principal, or rejects with FERRY_AUTHENTICATION_FAILED (FERRY_DIRECTORY_UNAVAILABLE when a user directory could not answer). */
  authenticate(request: ConnectRequest): Promise<Principal> | Principal;
  /**
   * SASL mechanisms to offer a client on this transport, strongest first. Without it: ANONYMOUS
   * and PLAIN.
   */
  mechanisms?(transport: TransportFacts): readonly string[];
  /** Starts a challenge-response exchange for one of the offered mechanisms; undefined for any other. */
  startExchange?(mechanism: string, transport: TransportFacts): SaslExchange | undefined;
}

/**
 * What may be done to a destination: send to it, consume from it (subscribe, a durable
 * subscription included), browse it, create it (a destination's first use, a temporary
 * destination, a durable subscription), delete it (a durable subscription), or manage it (purge,
 * move, and the rest of the management API).
 */
export type Operation = 'send' | 'consume' | 'browse' | 'create' | 'delete' | 'admin';

/**
 * Decides what a principal may do to a destination, checked in core for every protocol. Throws
 * FERRY_NOT_AUTHORIZED. The default allows everything.
 */
export interface Authorizer {
  authorize(principal: Principal, operation: Operation, destination: Destination): void;
}

export const allowEveryone: Authenticator & Authorizer = {
  authenticate: (request) => ({ username: request.credentials?.username, groups: [], internal: request.internal === true }),
  authorize: () => {},
};

/** The mechanisms offered when the authenticator names none. */
export const DEFAULT_SASL_MECHANISMS: readonly string[] = ['PLAIN', 'ANONYMOUS'];

/** A durable subscription's identity and what the protocol keeps with it. */
export interface DurableOptions {
  /** The subscription's name, unique per owner. */
  readonly name: string;
  /** The key that owns it: by default the connection's client id; AMQP gives its container id. */
  readonly owner?: string | undefined;
  /** A small note the protocol stores with the subscription and reads back (at most 1 KiB). */
  readonly adapterData?: string | undefined;
}

export interface SubscribeOptions {
  /** A queue, or a topic pattern (wildcards `*` and `>` allowed for topics). */
  readonly destination: Destination;
  readonly sink: DeliverySink;
  readonly prefetch?: number | undefined;
  readonly ackMode?: AckMode | undefined;
  readonly exclusive?: boolean | undefined;
  /**
   * On a queue: this consumer must be its only one (AMQP 0-9-1's exclusive consume). Refused with
   * FERRY_QUEUE_IN_USE when the queue has consumers or is a single-active-consumer one; while it is
   * open, any other consumer of the queue is refused the same way.
   */
  readonly soleConsumer?: boolean | undefined;
  /**
   * On a queue: it must exist already (AMQP 0-9-1's basic.consume); refused with
   * FERRY_DESTINATION_NOT_FOUND instead of created on first use.
   */
  readonly existing?: boolean | undefined;
  readonly priority?: number | undefined;
  readonly noLocal?: boolean | undefined;
  /** A JMS selector; refused with FERRY_SELECTOR_INVALID when it does not parse. */
  readonly selector?: string | undefined;
  /** Compare string properties with numbers as numbers (ActiveMQ does for STOMP and MQTT, whose headers are all strings). */
  readonly selectorConvertsStrings?: boolean | undefined;
  /** Makes a topic subscription durable: it keeps messages while no one is subscribed, across restarts. */
  readonly durable?: DurableOptions | undefined;
  /**
   * Makes a topic subscription shared: every consumer that names the same share and pattern takes
   * from one subscription queue, competing; it ends when its last consumer goes. With `durable`
   * too, the owner's membership of it is stored under that name: the subscription and what it
   * queues last while any membership does, across restarts, until each is deleted as a durable
   * subscription of its owner.
   */
  readonly shareName?: string | undefined;
  /**
   * Hands the new subscription the retained messages its pattern matches, first: `all` always,
   * `new` only when the subscription did not exist before (a durable one resumed gets none).
   * Shared subscriptions get none.
   */
  readonly retainedMessages?: 'all' | 'new' | 'none' | undefined;
  /** Puts a topic subscription, not a shared one, in an overlap group (see `OverlapMember`). */
  readonly overlap?: OverlapMember | undefined;
  /**
   * A consumer of this session that the new one replaces on the same topic subscription (an MQTT
   * SUBSCRIBE to a filter the client already has): the new consumer takes over its subscription,
   * with the messages queued there and its deliveries in flight under the same tags, and the old
   * one closes; nothing is redelivered and nothing dropped. When the subscription cannot carry
   * over (another pattern, or a durable one whose selector or no-local changes), the old consumer
   * just closes first.
   */
  readonly replaces?: ConsumerHandle | undefined;
  /**
   * A browser on a queue: it is handed each message waiting in the queue once, in order, through
   * the sink (honouring its credit and writability), and consumes nothing; the sink's `browseEnd`
   * is called once it has passed the end.
   */
  readonly browse?: boolean | undefined;
  /** What the client calls the subscription (a STOMP subscription id), told to consumer watchers. */
  readonly label?: string | undefined;
  /** ms a delivery may stay unacknowledged before it returns to the queue; the destination's policy (`ackTimeout`) when absent. */
  readonly ackTimeout?: number | undefined;
  /**
   * The exact topic name is a level that a wildcard subscription also matches, though the pattern
   * does not (MQTT's `a/#` matches `a`, where `a.>` does not): it is subscribed to as that wildcard
   * subscription is, with `read` only, making no topic and not counting toward the topic's
   * consumer limit. A durable subscription is still made with `create`.
   */
  readonly partOfPattern?: boolean | undefined;
  /**
   * What comes back when this consumer closes counts as redelivered, but is not dead-lettered by
   * the destination policy's `maxRedeliveries`: the client keeps its own redelivery policy and
   * gives up on a message itself (a JMS client's poison acknowledgement), as ActiveMQ has no such
   * limit of its own, or its protocol has no delivery limit at all (an MQTT session resends its
   * unacknowledged publishes on every reconnect). A declared queue's delivery limit still applies.
   */
  readonly exemptFromMaxRedeliveries?: boolean | undefined;
}

/** A durable subscription as stored, for its owner. */
export interface DurableSubscriptionInfo {
  readonly name: string;
  readonly topic: string;
  readonly selector: string | undefined;
  readonly noLocal: boolean;
  readonly adapterData: string | undefined;
  readonly active: boolean;
}

/**
 * What an adapter holds for a consumer it opened. Tags name deliveries; `txId` names a
 * transaction the connection began.
 */
export interface ConsumerHandle {
  readonly id: number;
  readonly ackMode: AckMode;
  readonly isClosed: boolean;
  readonly inFlightCount: number;
  /**
   * True while the message next in line for this consumer waits on the store before it can go
   * (a delivery mark being written, a body being read back): a drain that ended now would miss it.
   * The queue dispatches it, and wakes its consumers, when the store is done.
   */
  readonly waitsOnStore: boolean;
  /** True when it took over the consumer it replaced (`SubscribeOptions.replaces`), with that one's deliveries in flight under their tags. */
  readonly tookOver?: boolean;
  /** Consumes the delivery (in `client` mode, every earlier one too), or holds it in the transaction. */
  acknowledge(tag: number, txId?: string): void;
  /**
   * `acknowledge` without the dispatch that follows it, for a protocol that acknowledges a batch
   * (an MQTT read of many PUBACKs) and then calls `wake` once.
   */
  acknowledgeOnly(tag: number, txId?: string): void;
  /**
   * The client refuses the delivery as poison: it goes to the dead-letter queue (at commit, in a
   * transaction), with `reason` (what the client said, if it said) as its failure cause.
   */
  reject(tag: number, txId?: string, reason?: string): void;
  /** `reject` without the dispatch that follows it; `wake` dispatches. */
  rejectOnly(tag: number, txId?: string, reason?: string): void;
  /**
   * The client found the delivery expired before its application took it (ActiveMQ's client drops
   * such a message from its prefetch): it leaves as the queue's own expired messages do, counted as
   * expired and dead-lettered only when the expiry policy says so. The client's word is taken, even
   * where the broker's clock has not reached the expiry yet. Never part of a transaction: a rollback
   * cannot bring an expired message back.
   */
  expire(tag: number): void;
  /**
   * Resolves once every acknowledgement and rejection this consumer made so far (outside a
   * transaction) is on disk, so a protocol confirms an acknowledgement only when a crash can no
   * longer bring the message back; null when its queue writes nothing. Rejects as the store's sync
   * does (writes failing).
   */
  written(): Promise<void> | null;
  /**
   * The delivery failed and may be tried again: a counted redelivery, under the redelivery policy.
   * `changes` (here and in `release` and `refuse`) are set on the message's properties in this
   * queue from now on, and stored with it when it is persistent (AMQP modified's message-annotations).
   */
  redeliver(tag: number, changes?: PropertyChanges): void;
  /** The client gives the delivery back: not counted as a delivery attempt. */
  release(tag: number, changes?: PropertyChanges): void;
  /**
   * The client will not take this message on this consumer: it goes back to its queue for the
   * others and never comes to this one again (while it lasts); a counted delivery attempt when
   * `counted` (the delivery failed too), under the redelivery policy.
   */
  refuse(tag: number, counted: boolean, changes?: PropertyChanges): void;
  /**
   * The client is still working on the delivery: its acknowledgement time-out (its lease) runs `ms`
   * from now, the consumer's time-out when not given. False when the consumer has no time-out or
   * the delivery is no longer in flight (docs/delivery-lease.md).
   */
  extend(tag: number, ms?: number): boolean;
  /**
   * The tag of the oldest in-flight delivery of a message, for protocols that acknowledge by message
   * id; with `newest`, of the newest (another protocol's clients may give several messages one id:
   * a cumulative acknowledgement of that id then covers them all).
   */
  tagOf(messageId: string, newest?: boolean): number | undefined;
  /** The protocol has more credit for this consumer (an AMQP flow frame). */
  wake(): void;
  /**
   * Changes the most deliveries in flight to this consumer; a raise takes effect at the next `wake`.
   * Only a consumer of one queue has a prefetch of its own to change.
   */
  setPrefetch?(count: number): void;
  /**
   * Leaves its queue (AMQP 0-9-1's basic.cancel): it takes nothing more and no longer counts as a
   * consumer of the queue (for exclusive use, auto-delete and counts), and keeps what is in flight
   * to it until each delivery is settled; `close` gives back what is left then.
   */
  stopConsuming(): void;
  /** Closes the consumer; what it had not acknowledged is redelivered. */
  close(): void;
}

export interface DurableSubscriptionStats {
  readonly clientId: string;
  readonly name: string;
  readonly topic: string;
  readonly selector: string | undefined;
  readonly active: boolean;
  readonly pending: number;
  readonly inFlight: number;
}

/** A client connection as operators see it. */
export interface ClientConnectionInfo {
  readonly id: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  /** Undefined for an anonymous client. */
  readonly user: string | undefined;
  readonly clientId: string | undefined;
  /** When it was opened, in ms since the epoch (the broker's clock). */
  readonly connectedAt: number;
}

/** Refusals by the configured limits (limits.*) since the start, for stats and metrics. */
export interface LimitRefusals {
  readonly connections: number;
  readonly destinations: number;
  readonly consumers: number;
  readonly subscriptions: number;
}

export interface BrokerStats {
  /** `paused`: an operator paused the queue (`ferry pause`); its messages wait, undelivered, until resumed. */
  readonly queues: readonly (QueueStats & { readonly paused: boolean })[];
  readonly topics: readonly { readonly name: string; readonly subscriptions: number }[];
  readonly durableSubscriptions: readonly DurableSubscriptionStats[];
  /** How many client connections are open (those the broker opens for itself left out). */
  readonly connections: number;
  /** Who is connected as whom, oldest first. */
  readonly clients: readonly ClientConnectionInfo[];
  readonly scheduled: number;
  /** Persistent message bodies in memory and on disk only (the body cache). */
  readonly messageBodies: BodyCacheStats;
  /** The store's live records and bytes, and why persistent sends are refused (a full disk, a watermark), or null. */
  readonly store: StoreStats & { readonly refusing: string | null };
  /** Non-durable subscriptions that went over their pending-message limit, connections closed for it, messages evicted. */
  readonly slowConsumers: { readonly notified: number; readonly aborted: number; readonly evicted: number };
  /** Connections, destinations and consumers refused by the configured limits since the start. */
  readonly limitRefusals: LimitRefusals;
}
