import { createRequire } from 'node:module';
import type { TransportConnection } from '../../transport/index.js';

/**
 * rhea, used as the server side of a connection on Ferry's own transport. rhea does the framing,
 * performatives, SASL and the session and link state machines; Ferry's transport keeps the socket
 * (write batching, backpressure, limits) and Ferry's core the broker semantics.
 *
 * rhea's server path takes any object with `on('data'|'error'|'end')`, `write` and `end`
 * (`Connection.accept`, the way its own WebSocket support works), so the transport is wrapped in one
 * (`TransportSocket`). Everything Ferry relies on beyond rhea's public API is declared here, as
 * rhea 3.0 has it, and used in two places: connection.ts puts hooks in front of three session
 * handlers (transfers: credit and size limits, aborted transfers, the transactional state, raw
 * payloads; dispositions from a consumer: outcomes, transactional ones included; attaches: the
 * coordinator target, and links named alike in both directions), and transfers.ts reads and
 * writes single-frame transfers itself, keeping the session's books as rhea would.
 */

const require = createRequire(import.meta.url);

/** rhea's typed AMQP value: a value with its type, and maybe a descriptor. */
export interface Typed {
  readonly type?: { readonly typecode: number };
  readonly value: unknown;
  readonly descriptor?: { readonly value: unknown };
}

export interface RheaError {
  readonly condition: string;
  readonly description?: string;
}

/** A source or target as rhea decodes it (getters over the raw fields). */
export interface Terminus {
  readonly address?: string | null;
  readonly durable?: number | null;
  readonly expiry_policy?: string | null;
  readonly dynamic?: boolean | null;
  readonly distribution_mode?: string | null;
  readonly filter?: Readonly<Record<string, Typed>> | null;
  readonly capabilities?: string | readonly string[] | null;
}

export interface TerminusFields {
  address?: string | undefined;
  durable?: number;
  expiry_policy?: string;
  dynamic?: boolean;
  distribution_mode?: string;
  filter?: Record<string, Typed>;
  capabilities?: string[];
}

interface AttachPerformative {
  readonly name: string;
  readonly snd_settle_mode?: number;
  readonly rcv_settle_mode?: number;
  readonly source?: Terminus | null;
  readonly target?: Terminus | null;
  readonly desired_capabilities?: string | readonly string[] | null;
}

interface LocalAttach {
  snd_settle_mode: number;
  rcv_settle_mode: number;
  max_message_size: number;
  target: Typed | null;
  offered_capabilities: string[];
}

/** An incoming (client to broker) or outgoing delivery in a session's bookkeeping. */
export interface RheaDelivery {
  readonly id: number;
  readonly tag: Buffer;
  readonly link: RheaLink;
  settled: boolean;
  remote_settled: boolean;
  readonly remote_state?: unknown;
  update(settled: boolean, state?: Typed): void;
  /** The core delivery tag of an outgoing delivery. */
  ferryTag?: number | undefined;
}

interface CircularBuffer {
  by_id(id: number): RheaDelivery | undefined;
  get_head(): RheaDelivery | undefined;
  get_tail(): RheaDelivery | undefined;
  available(): number;
  push(delivery: RheaDelivery): void;
}

/** A session's books of the deliveries it sends (rhea's Outgoing). */
export interface OutgoingBooks {
  readonly deliveries: CircularBuffer;
  next_delivery_id: number;
  next_pending_delivery: number;
  next_transfer_id: number;
  window: number;
  available(): number;
  /** Transfers the peer's incoming window still admits. */
  transfer_window(): number;
  update(delivery: RheaDelivery, settled: boolean, state?: Typed): void;
}

/** A session's books of the deliveries it receives (rhea's Incoming). */
export interface IncomingBooks {
  readonly deliveries: CircularBuffer;
  next_transfer_id: number;
  next_delivery_id: number | undefined;
  update(delivery: RheaDelivery, settled: boolean, state?: Typed): void;
}

export interface RheaSession {
  readonly connection: RheaConnection;
  readonly local: { readonly channel: number };
  readonly outgoing: OutgoingBooks;
  readonly incoming: IncomingBooks;
  readonly remote: { readonly handles: Readonly<Record<number, RheaLink | undefined>> };
  /** The session's links by name (Ferry keys them by name and direction, see AmqpConnection). */
  readonly links: Record<string, RheaLink | undefined>;
  on_transfer(frame: Frame): void;
  on_disposition(frame: Frame): void;
  on_attach(frame: Frame): void;
  _write_flow(link: RheaLink): void;
  close(error?: RheaError): void;
  /** The handler Ferry keeps for this session. */
  ferry?: unknown;
}

export interface RheaLink {
  readonly name: string;
  credit: number;
  delivery_count: number;
  readonly session: RheaSession;
  readonly connection: RheaConnection;
  readonly remote: {
    readonly attach?: AttachPerformative;
    readonly detach?: { readonly closed?: boolean; readonly error?: RheaError | null };
  };
  readonly local: { readonly attach: LocalAttach; readonly handle: number };
  _incomplete?: { settled: boolean; remote_settled: boolean } | undefined;
  _draining?: boolean;
  _drained?: boolean;
  is_open(): boolean;
  is_closed(): boolean;
  is_sender(): boolean;
  close(error?: RheaError): void;
  detach(): void;
  /** Drops the link from its session's books; rhea calls it once both ends have detached. */
  remove(): void;
  set_source(fields: TerminusFields): void;
  set_target(fields: TerminusFields): void;
  /** Senders only. */
  send(payload: Buffer, tag: Buffer, format: number): RheaDelivery;
  /** Receivers only. */
  add_credit(credit: number): void;
  /** The handler Ferry keeps for this link. */
  ferry?: unknown;
  /** The client attached it with a transaction coordinator as its target. */
  ferryCoordinator?: boolean;
}

interface Frame {
  readonly channel: number;
  readonly payload?: Buffer;
  readonly performative: {
    readonly value: unknown[];
    readonly name?: string;
    readonly handle?: number;
    readonly role?: boolean;
    readonly first?: number;
    readonly last?: number | null;
    readonly settled?: boolean | null;
    readonly state?: Typed | null;
    readonly more?: boolean;
    readonly aborted?: boolean;
    readonly delivery_id?: number | null;
    message_format?: number | null;
    target?: Typed | Terminus | null;
  };
}

export interface RheaConnection {
  readonly container_id?: string;
  /** The peer's max-frame-size. */
  readonly max_frame_size?: number;
  /** Sessions by the peer's channel number. */
  readonly remote_channel_map: Readonly<Record<number, RheaSession | undefined>>;
  readonly remote: { readonly open?: { readonly desired_capabilities?: string | readonly string[] | null; readonly idle_time_out?: number | null } };
  readonly local: { readonly open: object };
  readonly sasl_transport?: { readonly username?: string; readonly selected?: { readonly username?: string; readonly transport?: { write_complete?: boolean } } };
  readonly amqp_transport: object;
  readonly transport: object;
  readonly socket: unknown;
  on(event: 'protocol_error' | 'error', handler: (error: unknown) => void): void;
  on(event: string, handler: (context: EventContext) => void): void;
  accept(socket: SocketLike): RheaConnection;
  open(): void;
  close(error?: RheaError): void;
  is_open(): boolean;
  is_closed(): boolean;
  output(): void;
  _process(): void;
  _register(): void;
}

export interface EventContext {
  readonly connection: RheaConnection;
  readonly session?: RheaSession;
  readonly sender?: RheaLink;
  readonly receiver?: RheaLink;
  readonly delivery?: RheaDelivery;
  readonly message?: Buffer;
  readonly error?: unknown;
}

interface SocketLike {
  on(event: string, handler: (arg?: unknown) => void): void;
  write(data: Buffer): void;
  end(): void;
  destroy(): void;
  removeAllListeners(event?: string): void;
  get_id_string(): string;
}

interface Container {
  readonly sasl_server_mechanisms: { enable_anonymous(): void; enable_plain(check: (user: string, password: string) => boolean): void };
  create_connection(options: Record<string, unknown>): RheaConnection;
  on(event: string, handler: (error: unknown) => void): void;
}

interface RheaModule {
  create_container(options: { id: string }): Container;
  readonly types: {
    wrap_ulong(value: number): Typed;
    wrap_list(items: unknown[]): Typed;
    wrap_binary(value: Buffer): Typed;
    wrap_array(items: string[], typecode: number): Typed;
    described(descriptor: Typed, value: Typed): Typed;
  };
  readonly message: {
    accepted(): { described(): Typed };
    released(): { described(): Typed };
    rejected(fields: { error: RheaError }): { described(): Typed };
  };
}

const rhea = require('rhea') as RheaModule;
const types = rhea.types;

/** Descriptor codes of the delivery states and transaction types Ferry reads or writes. */
export const Descriptor = {
  received: 0x23,
  accepted: 0x24,
  rejected: 0x25,
  released: 0x26,
  modified: 0x27,
  coordinator: 0x30,
  declare: 0x31,
  discharge: 0x32,
  declared: 0x33,
  transactionalState: 0x34,
} as const;

const symbolicDescriptors: Readonly<Record<string, number>> = {
  'amqp:received:list': Descriptor.received,
  'amqp:accepted:list': Descriptor.accepted,
  'amqp:rejected:list': Descriptor.rejected,
  'amqp:released:list': Descriptor.released,
  'amqp:modified:list': Descriptor.modified,
  'amqp:coordinator:list': Descriptor.coordinator,
  'amqp:declare:list': Descriptor.declare,
  'amqp:discharge:list': Descriptor.discharge,
  'amqp:declared:list': Descriptor.declared,
  'amqp:transactional-state:list': Descriptor.transactionalState,
};

/** The descriptor code of a described value rhea decoded, symbolic ones translated; undefined for others. */
export function descriptorOf(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const descriptor = (value as Typed).descriptor?.value;
  if (typeof descriptor === 'number') return descriptor;
  if (typeof descriptor === 'string') return symbolicDescriptors[descriptor];
  return undefined;
}

/** The fields of a described list rhea decoded, still typed. */
export function fieldsOf(value: Typed): readonly Typed[] {
  return Array.isArray(value.value) ? (value.value as Typed[]) : [];
}

/** A typed boolean or number field as a JavaScript boolean. */
export function flag(field: Typed | undefined): boolean {
  const v = field?.value;
  return v === true || v === 1;
}

/** One accepted outcome for every settlement: rhea only reads it, and sends runs of it as one disposition. */
const ACCEPTED = rhea.message.accepted().described();

export const outcomes = {
  accepted: (): Typed => ACCEPTED,
  released: (): Typed => rhea.message.released().described(),
  rejected: (error: RheaError): Typed => rhea.message.rejected({ error }).described(),
  declared: (txnId: Buffer): Typed => types.described(types.wrap_ulong(Descriptor.declared), types.wrap_list([txnId])),
  transactional: (txnId: Buffer, outcome: Typed): Typed =>
    types.described(types.wrap_ulong(Descriptor.transactionalState), types.wrap_list([txnId, outcome])),
};

/** The coordinator target of a responding attach, offering local transactions. */
export function coordinatorTarget(): Typed {
  return types.described(types.wrap_ulong(Descriptor.coordinator), types.wrap_list([types.wrap_array(['amqp:local-transactions'], 0xa3)]));
}

/** A condition Ferry raises from inside rhea's input handling; the connection handler turns it into a close. */
export class AmqpConditionError extends Error {
  constructor(
    readonly condition: string,
    description: string,
  ) {
    super(description);
    this.name = 'AmqpConditionError';
  }
}

/**
 * The transport as the socket rhea expects. Writes go straight to the transport, which batches all
 * of one event-loop turn into one system call.
 */
class TransportSocket implements SocketLike {
  private data: ((chunk: Buffer) => void) | undefined;
  private end_: (() => void) | undefined;

  constructor(private readonly transport: TransportConnection) {}

  on(event: string, handler: (arg?: unknown) => void): void {
    if (event === 'data') this.data = handler as (chunk: Buffer) => void;
    else if (event === 'end') this.end_ = handler as () => void;
  }

  feed(chunk: Buffer): void {
    this.data?.(chunk);
  }

  closed(): void {
    const end = this.end_;
    this.end_ = undefined;
    this.data = undefined;
    end?.();
  }

  write(data: Buffer): void {
    this.transport.write(data);
  }

  end(): void {
    this.transport.end();
  }

  destroy(): void {
    this.transport.destroy();
  }

  removeAllListeners(): void {
    this.data = undefined;
    this.end_ = undefined;
  }

  get_id_string(): string {
    return this.transport.remoteAddress;
  }
}

export interface ServerConnectionSettings {
  readonly id: string;
  readonly containerId: string;
  readonly maxFrameSize: number;
  readonly channelMax: number;
  readonly idleTimeout: number;
  readonly sessionWindow: number;
  readonly properties: Record<string, string>;
  readonly offeredCapabilities: string[];
}

export interface ServerConnection {
  readonly connection: RheaConnection;
  /** Hands bytes from the transport to rhea. */
  feed(chunk: Buffer): void;
  /** The transport closed: rhea's side learns of it. */
  closed(): void;
}

let container: Container | undefined;

/** One container for the broker: rhea reads SASL mechanisms and unhandled errors from it. */
function serverContainer(): Container {
  if (container !== undefined) return container;
  const c = rhea.create_container({ id: 'ferry' });
  c.sasl_server_mechanisms.enable_anonymous();
  // any user and password, until security lands
  c.sasl_server_mechanisms.enable_plain(() => true);
  // errors no handler took; every connection handles its own, so this only keeps rhea from throwing
  c.on('error', () => {});
  container = c;
  return c;
}

/** Accepts a connection on `transport`; rhea answers the client's header, SASL and open. */
export function acceptConnection(transport: TransportConnection, settings: ServerConnectionSettings): ServerConnection {
  const socket = new TransportSocket(transport);
  const options: Record<string, unknown> = {
    id: settings.id,
    container_id: settings.containerId,
    max_frame_size: settings.maxFrameSize,
    channel_max: settings.channelMax,
    properties: settings.properties,
    offered_capabilities: settings.offeredCapabilities,
    session_buffer_size: settings.sessionWindow,
    // Ferry grants credit, settles and accepts itself
    credit_window: 0,
    autoaccept: false,
    autosettle: true,
    treat_modified_as_released: false,
    reconnect: false,
  };
  if (settings.idleTimeout > 0) options['idle_time_out'] = settings.idleTimeout;
  const connection = serverContainer().create_connection(options);
  connection.accept(socket);
  return {
    connection,
    feed: (chunk) => socket.feed(chunk),
    closed: () => socket.closed(),
  };
}

/** True once SASL (if any) is over and AMQP frames may be written. */
export function amqpLayerReady(connection: RheaConnection): boolean {
  const sasl = connection.sasl_transport;
  if (sasl === undefined) return true;
  const selected = sasl.selected;
  if (selected === undefined) return false;
  if ((selected as object) === connection.amqp_transport) return true;
  return selected.transport?.write_complete === true;
}

/** The SASL user name, or undefined without SASL. */
export function saslUser(connection: RheaConnection): string | undefined {
  const sasl = connection.sasl_transport;
  return sasl?.selected?.username ?? sasl?.username;
}

/** Reads the txn-id of a transactional-state; undefined for any other state. */
export function transactionOf(state: unknown): Buffer | undefined {
  if (descriptorOf(state) !== Descriptor.transactionalState) return undefined;
  const id = fieldsOf(state as Typed)[0]?.value;
  return Buffer.isBuffer(id) ? id : undefined;
}

/** The outcome inside a transactional-state, or the state itself. */
export function outcomeOf(state: unknown): Typed | undefined {
  if (descriptorOf(state) === Descriptor.transactionalState) return fieldsOf(state as Typed)[1];
  return state === null || state === undefined ? undefined : (state as Typed);
}

/** Access to fields of rhea's frames that Ferry's hooks need. */
export type { Frame };

/** The transfer's delivery state, as sent (rhea's getter would drop its descriptor). */
export function rawTransferState(frame: Frame): unknown {
  return frame.performative.value[7];
}
