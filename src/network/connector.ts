import { readFileSync } from 'node:fs';
import { FerryError, errorFields, isFerryError } from '../errors.js';
import { DUPLICATE_ID_PROPERTY, FANNED_OUT_PROPERTY, RETAIN_PROPERTY, isRetainValue, subscriptionMatches, type BrokerAccess, type ConsumerInfo, type CoreConnection, type CoreSession, type Destination, type Logger, type Message, type MessageInit, type PropertyValue, type SendOptions } from '../core/index.js';
import { HOPS_PROPERTY, PATH_PROPERTY, RETURNS_PROPERTY, conduitName, demandLabel, demandOf, demandPathOf, destinationKey, forwards, linkSelector, returnSelector, type Demand, type DemandRules } from './demand.js';
import { DuplexServerSide, duplexHeaders } from './duplex.js';
import { readLinkFields } from '../protocols/stomp/index.js';
import { NeighbourLink, type LinkAddress, type LinkMessage } from './link.js';
import type { ProtocolAdapter } from '../transport/index.js';
import { messageFromLink } from './mapping.js';
import type { ConnectorSettings } from './settings.js';

export type { ConnectorSettings } from './settings.js';


export type ConnectorState = 'connecting' | 'connected' | 'stopped';

export interface ConnectorStats {
  readonly name: string;
  readonly state: ConnectorState;
  /** The neighbour's broker name once linked, else the address tried last. */
  readonly neighbour: string | undefined;
  readonly uri: string;
  /** Destinations this broker pulls from the neighbour, with the path of the demand. */
  readonly demand: readonly { readonly kind: string; readonly name: string; readonly path: readonly string[]; readonly selector: string | undefined; readonly open: boolean; readonly back: boolean }[];
  /** Messages taken from the neighbour and stored here. */
  readonly received: number;
  /** Of those, messages that came back: they had left this broker before (docs/network.md). */
  readonly returned: number;
  /** How many times the link was made (1 + reconnections). */
  readonly links: number;
  /** Destinations the neighbour refused this broker (`kind:name`): not asked for again until their demand here goes and comes back. */
  readonly refused: readonly string[];
}

/** How a connector takes part in duplex links (docs/network.md, "Duplex"). */
export interface DuplexOptions {
  /** Serves the neighbour's link that runs back over this connector's duplex connection. */
  readonly stomp?: ProtocolAdapter | undefined;
  /** This connector runs back over a duplex connection a neighbour opened: its link, once open. */
  readonly accepted?: Promise<NeighbourLink> | undefined;
  /** ... and the core connection of the user the neighbour logged in as, which stores what it pulls. */
  readonly as?: CoreConnection | undefined;
  /** Told when the connector stops, for good. */
  readonly stopped?: (() => void) | undefined;
}

/** One subscription on the neighbour and the forwarding it carries. */
interface Pull {
  readonly id: string;
  /** The destination's key, with `back:` before it for a subscription that brings messages back. */
  readonly key: string;
  readonly demand: Demand;
  /** Takes only messages that have been here before, while the neighbour has no demand of its own. */
  readonly back: boolean;
  readonly selector: string;
  /** The durable subscription on the neighbour this pull is the subscriber of (durable demand on a topic). */
  readonly durableName: string | undefined;
  /** Its SUBSCRIBE has been written: an UNSUBSCRIBE may follow. */
  subscribed: boolean;
  /** The neighbour has confirmed the subscription: what is sent there from now on is forwarded. */
  open: boolean;
  /** Set once the decision to unsubscribe is taken: what arrives after goes back to the neighbour unacknowledged. */
  closing: boolean;
  /** Acknowledgements wait on the local store in arrival order; the unsubscribe waits on them. */
  settled: Promise<void>;
  /**
   * A message this broker refused to store (its queue full, its store refusing writes), then those
   * that came after it, in arrival order: unacknowledged, so they stay the neighbour's, which sends no
   * more than the prefetch meanwhile. They are stored, in order, once a later try succeeds.
   */
  held: LinkMessage[];
  /** The next try at storing what is held. */
  retry: NodeJS.Timeout | undefined;
  retryDelay: number;
  /**
   * A topic's subscribers here that this subscription brings the neighbour's retained messages to:
   * those that came while no subscription on the neighbour kept this broker's copies current, and
   * those that come while it lives (the neighbour hands them as it subscribes, after its receipt).
   */
  readonly awaiting: Set<number>;
}

/**
 * A forwarded retained publication is kept here in memory only: it is a copy of the neighbour's,
 * which a restart here must not bring back after the neighbour has changed or cleared it.
 */
const RETAINED_COPY: SendOptions = { retain: 'memory' };
const NO_ONE: ReadonlySet<number> = new Set();

/**
 * A network connector: the broker pulls from one neighbour what its consumers want. Consumers on
 * this broker (and the neighbours' connectors subscribed here) are the demand; for each demanded
 * destination it subscribes on the neighbour over STOMP, stores what arrives in its own broker
 * through an internal core connection, and acknowledges it to the neighbour only once it is on
 * disk here (store and forward). When demand goes, so does the subscription, and the messages
 * stay where they are: with the consumers.
 */
export class NetworkConnector {
  /** The consumers open here, by destination key: an event recomputes the demand of its destination only. */
  private readonly consumers = new Map<string, Map<number, ConsumerInfo>>();
  private readonly pulls = new Map<string, Pull>();
  private readonly byId = new Map<string, Pull>();
  /** Topic subscribers, by destination key, that came while no subscription on the neighbour served them its retained messages. */
  private readonly unserved = new Map<string, Set<number>>();
  /** Destinations (by key) the neighbour refused (the link user may not read them). */
  private readonly refused = new Set<string>();
  private link: NeighbourLink | undefined;
  private core: CoreConnection | undefined;
  private session: CoreSession | undefined;
  private unwatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private nextUri = 0;
  private nextPull = 1;
  private received = 0;
  private returned = 0;
  private linkCount = 0;
  private currentState: ConnectorState = 'connecting';

  constructor(
    readonly settings: ConnectorSettings,
    private readonly broker: BrokerAccess,
    private readonly logger: Logger,
    private readonly duplex: DuplexOptions = {},
  ) {
    this.delay = settings.reconnectDelay;
  }

  get state(): ConnectorState {
    return this.currentState;
  }

  async start(): Promise<void> {
    // a duplex link's far end stores what it pulls with the rights of the user the neighbour logged in as
    this.core = this.duplex.as ?? (await this.broker.connect({ protocol: 'network', transport: { remoteAddress: `network:${this.settings.name}` }, internal: true }));
    this.session = this.core.createSession();
    this.unwatch = this.broker.watchConsumers({
      added: (consumer) => {
        const key = destinationKey(consumer.destination);
        let open = this.consumers.get(key);
        if (open === undefined) this.consumers.set(key, (open = new Map()));
        open.set(consumer.id, consumer);
        if (consumer.destination.kind === 'topic') this.awaitRetained(key, consumer);
        this.refresh(key);
      },
      removed: (consumer) => {
        const key = destinationKey(consumer.destination);
        const open = this.consumers.get(key);
        open?.delete(consumer.id);
        if (open?.size === 0) this.consumers.delete(key);
        this.unserved.get(key)?.delete(consumer.id);
        if (this.unserved.get(key)?.size === 0) this.unserved.delete(key);
        this.refresh(key);
      },
    });
    if (this.duplex.accepted === undefined) void this.connect();
    else void this.adopt(this.duplex.accepted);
  }

  /** `atOnce`: the link is dropped rather than closed with a goodbye (see `NeighbourLink.drop`). */
  stop(atOnce = false): void {
    if (this.currentState === 'stopped') return;
    this.currentState = 'stopped';
    this.duplex.stopped?.();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.unwatch?.();
    for (const pull of this.pulls.values()) release(pull);
    if (atOnce) this.link?.drop();
    else this.link?.close();
    this.link = undefined;
    // the connection of a duplex link belongs to the session it arrived on
    if (this.duplex.as === undefined) this.core?.close();
  }

  stats(): ConnectorStats {
    return {
      name: this.settings.name,
      state: this.currentState,
      neighbour: this.link?.brokerName,
      uri: this.settings.uris[(this.nextUri + this.settings.uris.length - 1) % this.settings.uris.length]!,
      demand: [...this.pulls.values()].map((p) => ({ kind: p.demand.destination.kind, name: p.demand.destination.name, path: p.demand.path, selector: p.demand.selector, open: p.open, back: p.back })),
      received: this.received,
      returned: this.returned,
      links: this.linkCount,
      refused: [...this.refused],
    };
  }

  private async connect(): Promise<void> {
    if (this.currentState === 'stopped') return;
    const uri = this.settings.uris[this.nextUri++ % this.settings.uris.length]!;
    try {
      const extra = this.settings.duplex ? duplexHeaders(this.broker.name, this.settings) : [];
      const link = await NeighbourLink.open(addressOf(uri, this.settings), `ferry-network:${this.broker.name}:${this.settings.name}`, 10_000, extra);
      // stop() may have run while the link was being made
      if ((this.currentState as ConnectorState) === 'stopped') return link.close();
      if (this.settings.duplex && this.duplex.stomp !== undefined) {
        // the neighbour's own link runs back over this connection: this broker serves it
        const server = new DuplexServerSide(link, this.duplex.stomp, this.broker, this.settings.name);
        link.onClientFrame = (frame) => server.frame(frame);
        link.onGone = () => server.closed();
      }
      this.linked(link, uri);
    } catch (err) {
      this.logger.warn({ event: 'network.link-failed', connector: this.settings.name, uri, ...errorFields(err) }, `network connector ${this.settings.name} cannot reach ${uri}`);
      this.retry();
    }
  }

  /** The link a neighbour opened here as duplex, running back to it: this connector lives as long as that link. */
  private async adopt(accepted: Promise<NeighbourLink>): Promise<void> {
    try {
      const link = await accepted;
      if (this.currentState === 'stopped') return link.close();
      this.linked(link, this.settings.uris[0]!);
    } catch (err) {
      this.logger.warn({ event: 'network.link-failed', connector: this.settings.name, ...errorFields(err) }, `the duplex link of ${this.settings.name} did not open`);
      this.stop();
    }
  }

  /** A link is up: it carries this connector's demand from now on. */
  private linked(link: NeighbourLink, uri: string): void {
    this.link = link;
    this.linkCount++;
    this.currentState = 'connected';
    this.delay = this.settings.reconnectDelay;
    link.onMessage = (message) => this.onMessage(message);
    link.onSubscribed = (id) => {
      const pull = this.byId.get(id);
      if (pull !== undefined) pull.open = true;
    };
    link.onRefused = (id, reason) => {
      const pull = this.byId.get(id);
      if (pull === undefined) return;
      this.refused.add(destinationKey(pull.demand.destination));
      this.logger.warn({ event: 'network.refused', connector: this.settings.name, destination: `${pull.demand.destination.kind}:${pull.demand.destination.name}`, message: reason.message }, `the neighbour refused connector ${this.settings.name} a subscription; the link user needs the right to read it`);
    };
    link.onClose = (reason) => this.lost(reason);
    this.logger.info({ event: 'network.linked', connector: this.settings.name, neighbour: link.brokerName, uri }, `network connector ${this.settings.name} linked to ${link.brokerName}`);
    this.pulls.clear();
    this.byId.clear();
    link.start();
    for (const key of this.consumers.keys()) this.refresh(key);
  }

  private lost(reason: FerryError): void {
    if (this.currentState === 'stopped') return;
    this.logger.warn({ event: 'network.link-lost', connector: this.settings.name, code: reason.code, message: reason.message }, `network connector ${this.settings.name} lost its link`);
    const neighbour = this.link?.brokerName;
    this.link = undefined;
    // the neighbour gives back whatever was not acknowledged: a later resend is dropped here by id
    for (const pull of this.pulls.values()) {
      pull.closing = true;
      release(pull);
    }
    this.pulls.clear();
    this.byId.clear();
    // nothing keeps this broker's copies of the neighbour's retained messages current any more
    if (neighbour !== undefined) this.forgetRetained('>', neighbour);
    // a duplex link's far end cannot link again: the neighbour does, and a new connector serves it
    if (this.duplex.accepted !== undefined) this.stop();
    else this.retry();
  }

  private retry(): void {
    this.currentState = 'connecting';
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.settings.maxReconnectDelay);
    this.timer = setTimeout(() => void this.connect(), wait);
    this.timer.unref();
  }

  /**
   * Brings the subscriptions on the neighbour for one destination in line with the demand here:
   * the forward one, and for a queue the one that brings messages back while the neighbour has no
   * demand of its own for it.
   */
  private refresh(key: string): void {
    const link = this.link;
    if (link === undefined || link.isClosed) return;
    const rules: DemandRules = { self: this.broker.name, neighbour: link.brokerName, ttl: this.settings.ttl, include: this.settings.include, exclude: this.settings.exclude };
    const { demand, neighbourWants } = demandOf(this.consumers.get(key)?.values() ?? [], rules);
    if (demand === undefined) this.refused.delete(key);
    // a destination the neighbour refused once is not asked for, either way, until its demand comes again
    const wanted = this.refused.has(key) || (demand !== undefined && !this.mayStore(demand.destination)) ? undefined : demand;
    this.align(link, key, wanted, wanted === undefined ? '' : linkSelector(rules, wanted), false);
    const back = wanted !== undefined && wanted.destination.kind === 'queue' && !neighbourWants ? wanted : undefined;
    this.align(link, `back:${key}`, back, back === undefined ? '' : returnSelector(rules, back), true);
  }

  /**
   * Whether what is pulled for `destination` may be stored here: always for a connector of this
   * broker's configuration; for the far end of a duplex link, only into a queue (or a topic without
   * wildcards) the neighbour's user may send to, so a client that asks for a duplex link learns of
   * no other demand and sends nowhere it could not send anyway. Messages for a wildcard pattern are
   * checked one by one when stored.
   */
  private mayStore(destination: Destination): boolean {
    if (this.duplex.as === undefined || destination.name.includes('*') || destination.name.includes('>')) return true;
    try {
      this.duplex.as.checkDestination(destination);
      return true;
    } catch (err) {
      if (!isFerryError(err)) throw err;
      return false;
    }
  }

  private align(link: NeighbourLink, key: string, demand: Demand | undefined, selector: string, back: boolean): void {
    const current = this.pulls.get(key);
    const durableName = demand !== undefined && demand.durable && !back ? conduitName(demand) : undefined;
    if (current !== undefined) {
      if (demand !== undefined && current.selector === selector && current.durableName === durableName) return;
      // the neighbour deletes a durable conduit (and what it kept) only when none takes its name here
      this.close(current, link, current.durableName !== undefined && current.durableName !== durableName);
      if (demand === undefined && !back && current.demand.destination.kind === 'topic') this.forgetRetained(current.demand.destination.name, link.brokerName);
    }
    if (demand === undefined) return;
    const retained = !back && demand.destination.kind === 'topic';
    const awaiting = new Set<number>();
    if (retained) {
      for (const id of this.unserved.get(key) ?? []) {
        const consumer = this.consumers.get(key)?.get(id);
        if (consumer !== undefined && !demandPathOf(consumer).includes(link.brokerName)) awaiting.add(id);
      }
      this.unserved.delete(key);
    }
    // a durable subscription has one subscriber: the new one subscribes once the old one has left
    const follows = durableName !== undefined && current?.durableName === durableName ? current.settled : undefined;
    const pull: Pull = { id: demandLabel(demand.path, this.nextPull++), key, demand, back, selector, durableName, subscribed: false, open: false, closing: false, settled: follows ?? Promise.resolve(), held: [], retry: undefined, retryDelay: this.settings.reconnectDelay, awaiting };
    this.pulls.set(key, pull);
    this.byId.set(pull.id, pull);
    const subscribe = (): void => {
      if (this.pulls.get(key) !== pull) return;
      pull.subscribed = true;
      link.subscribe({
        id: pull.id,
        destination: `/${demand.destination.kind}/${demand.destination.name}`,
        selector,
        prefetch: this.settings.prefetch,
        // below the neighbour's own consumers: a message goes back only if nobody there takes it
        priority: back || this.settings.localFirst ? -1 : undefined,
        durableName,
        retained,
      });
    };
    if (follows === undefined) subscribe();
    else pull.settled = follows.then(subscribe);
  }

  /**
   * Ends a subscription on the neighbour after every message already stored here has been
   * acknowledged there: the acknowledgements and then the UNSUBSCRIBE leave in that order, so what
   * the neighbour takes back is exactly what this broker does not have. A durable conduit stays
   * there, keeping what is published for this broker, unless `deleteDurable`.
   */
  private close(pull: Pull, link: NeighbourLink, deleteDurable: boolean): void {
    pull.closing = true;
    // what is held is not stored here: the neighbour takes it back with the subscription
    release(pull);
    this.pulls.delete(pull.key);
    pull.settled = pull.settled.then(() => {
      this.byId.delete(pull.id);
      const durableName = deleteDurable ? pull.durableName : undefined;
      // one that never subscribed still deletes the durable conduit it would have taken up
      if (pull.subscribed || durableName !== undefined) link.unsubscribe(pull.id, durableName);
    });
  }

  private onMessage(message: LinkMessage): void {
    const link = this.link;
    const pull = this.byId.get(message.subscription);
    // sent before the neighbour read our UNSUBSCRIBE: it takes back what is not acknowledged
    if (link === undefined || pull === undefined || pull.closing) return;
    // behind a refused message: they keep their order, and wait with it
    if (pull.held.length > 0) {
      pull.held.push(message);
      return;
    }
    const refusal = this.store(pull, link, message);
    if (refusal === undefined) return;
    pull.held.push(message);
    const destination = `${pull.demand.destination.kind}:${pull.demand.destination.name}`;
    this.logger.warn(
      { event: 'network.store-refused', connector: this.settings.name, destination, retryInMs: pull.retryDelay, ...errorFields(refusal.err) },
      `a message forwarded from ${link.brokerName} for ${destination} could not be stored here; it stays on ${link.brokerName}, unacknowledged, and what follows it waits here until it can be stored (tried again in ${pull.retryDelay} ms, then less often)`,
    );
    this.retryLater(pull, link);
  }

  /**
   * Stores one forwarded message, to be acknowledged to the neighbour once it is durable here;
   * returns why this broker refused it, if it did. A refusal neither acknowledges nor NACKs it: a
   * STOMP NACK is a failed delivery, which the neighbour would count and dead-letter in the end.
   */
  private store(pull: Pull, link: NeighbourLink, message: LinkMessage): { readonly err: unknown } | undefined {
    if (message.headers.get('ferry-retained') === 'true' && pull.demand.destination.kind === 'topic') return this.keepRetained(pull, link, message);
    let durable: Promise<void> | null;
    try {
      const init = this.forwarded(message, pull.demand.destination, link.brokerName);
      if (init.destination.kind === 'topic' && !forwards(this.settings, init.destination.name)) {
        // a wildcard's conduit on a neighbour whose selectors know no JMSDestination brings the
        // topics the lists leave out too (see linkSelector): the conduit's copy is no subscriber's here
        pull.settled = pull.settled.then(() => link.ack(message.ackId));
        return undefined;
      }
      durable = this.session!.send(init, undefined, init.destination.kind === 'topic' && isRetainValue(init.properties?.get(RETAIN_PROPERTY)) ? RETAINED_COPY : undefined);
    } catch (err) {
      return { err };
    }
    this.received++;
    if (pull.back) this.returned++;
    const stored = durable ?? Promise.resolve();
    pull.settled = Promise.all([pull.settled, stored]).then(
      () => link.ack(message.ackId),
      (err: unknown) => {
        // not on disk here: the neighbour must keep it, and gives it back when the link is remade
        this.logger.warn({ event: 'network.store-failed', connector: this.settings.name, ...errorFields(err) }, 'a forwarded message was not stored; relinking');
        link.close();
        this.lost(new FerryError('FERRY_NETWORK_LINK', 'a forwarded message was not stored'));
      },
    );
    return undefined;
  }

  /**
   * A retained message the neighbour handed the subscription as it started: kept here as the
   * topic's retained message, in memory (not a message stored for anyone: it is acknowledged at
   * once), and given to the subscribers that wait for it, not to the others. One that has been on
   * this broker already is this broker's own, as a neighbour's copy had it: not the neighbour's to give.
   */
  private keepRetained(pull: Pull, link: NeighbourLink, message: LinkMessage): { readonly err: unknown } | undefined {
    try {
      const init = this.forwarded(message, pull.demand.destination, link.brokerName);
      const path = String(init.brokerProperties?.get(PATH_PROPERTY) ?? '');
      const topic = init.destination.name;
      // a topic another open subscription carries: this broker's copy was current, and the subscribers had it from here
      const current = [...this.pulls.values()].some((p) => p !== pull && p.open && !p.back && p.demand.destination.kind === 'topic' && subscriptionMatches(p.demand.destination.name, topic));
      if (!path.includes(`|${this.broker.name}|`) && forwards(this.settings, topic)) this.session!.keepForwardedRetained(init, current ? NO_ONE : pull.awaiting);
    } catch (err) {
      return { err };
    }
    pull.settled = pull.settled.then(() => link.ack(message.ackId));
    return undefined;
  }

  /**
   * A topic subscriber here gets the neighbour's retained messages from the subscription on the
   * neighbour that serves its pattern: the one open now, which hands them as it starts, or the next
   * one made. Not a neighbour's own subscription here: what it would get is the neighbour's already.
   */
  private awaitRetained(key: string, consumer: ConsumerInfo): void {
    const pull = this.pulls.get(key);
    const link = this.link;
    if (pull !== undefined && link !== undefined) {
      if (!demandPathOf(consumer).includes(link.brokerName)) pull.awaiting.add(consumer.id);
      return;
    }
    let waiting = this.unserved.get(key);
    if (waiting === undefined) this.unserved.set(key, (waiting = new Set()));
    waiting.add(consumer.id);
  }

  /**
   * Forgets this broker's copies of the neighbour's retained messages on the topics `pattern`
   * matches, once no subscription on the neighbour keeps them current: answering a new subscriber
   * from one of them could give it a value the neighbour has since changed or cleared. Those still
   * carried by another of this connector's subscriptions stay.
   */
  private forgetRetained(pattern: string, neighbour: string): void {
    const carried = [...this.pulls.values()].filter((p) => !p.back && p.demand.destination.kind === 'topic').map((p) => p.demand.destination.name);
    const came = (message: Message): boolean =>
      String(message.brokerProperties?.get(PATH_PROPERTY) ?? '').endsWith(`|${neighbour}|`) && !carried.some((p) => subscriptionMatches(p, message.destination.name));
    const forgotten = this.session?.forgetForwardedRetained(pattern, came) ?? 0;
    if (forgotten > 0) this.logger.debug({ event: 'network.retained-forgotten', connector: this.settings.name, pattern, forgotten }, `forgot ${forgotten} retained message(s) of ${neighbour} that no subscription there keeps current`);
  }

  private retryLater(pull: Pull, link: NeighbourLink): void {
    const wait = pull.retryDelay;
    pull.retryDelay = Math.min(wait * 2, this.settings.maxReconnectDelay);
    pull.retry = setTimeout(() => this.storeHeld(pull, link), wait);
    pull.retry.unref();
  }

  /** Tries again to store what a refusal held, in order; what is still refused waits for the next try. */
  private storeHeld(pull: Pull, link: NeighbourLink): void {
    pull.retry = undefined;
    if (pull.closing || this.link !== link) return;
    let stored = 0;
    for (;;) {
      const message = pull.held[0];
      if (message === undefined) break;
      const refusal = this.store(pull, link, message);
      if (refusal !== undefined) {
        this.logger.debug({ event: 'network.store-refused', connector: this.settings.name, held: pull.held.length, retryInMs: pull.retryDelay, ...errorFields(refusal.err) }, 'forwarded messages still cannot be stored here; they stay on the neighbour');
        this.retryLater(pull, link);
        return;
      }
      pull.held.shift();
      stored++;
    }
    pull.retryDelay = this.settings.reconnectDelay;
    this.logger.info(
      { event: 'network.store-resumed', connector: this.settings.name, destination: `${pull.demand.destination.kind}:${pull.demand.destination.name}`, stored },
      `connector ${this.settings.name} stored the ${stored} forwarded message(s) it had to leave on ${link.brokerName}, and forwards again`,
    );
  }

  /**
   * The neighbour's message as this broker stores it, one broker further along its path. The path,
   * hops and duplicate id are the broker's own properties (`Message.brokerProperties`), which no
   * consumer gets; a neighbour that does not write the link form gives them as plain headers.
   */
  private forwarded(message: LinkMessage, demanded: Destination, neighbour: string): MessageInit {
    const init = messageFromLink(message.headers, message.body, demanded);
    let properties: Map<string, PropertyValue>;
    let trail: Map<string, PropertyValue>;
    if (message.linkForm) {
      const fields = readLinkFields(message.headers);
      if (fields.id !== undefined) init.id = fields.id;
      if (fields.timestamp !== undefined) init.timestamp = fields.timestamp;
      init.bodyKind = fields.bodyKind;
      if (fields.userId !== undefined && this.mayClaim(fields.userId)) init.userId = fields.userId;
      init.propertyTypes = fields.propertyTypes;
      properties = fields.properties;
      trail = fields.brokerProperties;
    } else {
      properties = new Map(init.properties ?? []);
      trail = new Map();
      for (const name of [PATH_PROPERTY, HOPS_PROPERTY, RETURNS_PROPERTY]) {
        const value = properties.get(name);
        if (value === undefined) continue;
        trail.set(name, value);
        properties.delete(name);
      }
    }
    const path = String(trail.get(PATH_PROPERTY) ?? '|');
    trail.set(PATH_PROPERTY, path.includes(`|${neighbour}|`) ? path : `${path}${neighbour}|`);
    // the id the message had where it was first sent: every broker it reaches drops a second copy
    const original = String(trail.get(DUPLICATE_ID_PROPERTY) ?? properties.get(DUPLICATE_ID_PROPERTY) ?? message.headers.get('message-id') ?? '');
    if (path.includes(`|${this.broker.name}|`)) {
      // back where it has been: not a hop further from its source, and not the copy seen before,
      // so its id here names the trip (a resend of the same trip carries the same count)
      const returns = Number(trail.get(RETURNS_PROPERTY) ?? 0) + 1;
      trail.set(RETURNS_PROPERTY, returns);
      trail.set(DUPLICATE_ID_PROPERTY, `${original}~return${returns}`);
    } else {
      trail.set(HOPS_PROPERTY, Number(trail.get(HOPS_PROPERTY) ?? 0) + 1);
      trail.set(DUPLICATE_ID_PROPERTY, original);
    }
    // the virtual topic's consumer queues were filled where it was published: the groups' consumers
    // here take those copies through their own demand, and a fan-out here too would double them
    if (init.destination.kind === 'topic') trail.set(FANNED_OUT_PROPERTY, true);
    init.properties = properties;
    init.brokerProperties = trail;
    return init;
  }

  /**
   * Whether a message the neighbour says its user checked keeps that user id here. A connector of
   * this broker's configuration trusts the neighbour it was told to link to; the far end of a
   * duplex link knows the neighbour only as the user it logged in as, so it keeps only that one.
   */
  private mayClaim(userId: string): boolean {
    return this.duplex.as === undefined || this.duplex.as.principal.username === userId;
  }
}

/** A pull that ends gives up what it holds (unacknowledged: the neighbour keeps it) and its next try. */
function release(pull: Pull): void {
  if (pull.retry !== undefined) clearTimeout(pull.retry);
  pull.retry = undefined;
  pull.held = [];
}

const SCHEMES: Readonly<Record<string, boolean>> = { 'stomp:': false, 'ssl:': true, 'stomp+ssl:': true };

/** The neighbour's address and the link's login: `stomp://host:port`, or over TLS `ssl://` (`stomp+ssl://`). */
function addressOf(uri: string, settings: ConnectorSettings): LinkAddress {
  const match = /^([a-z+]+:)\/\/([^/:]+):(\d+)$/.exec(uri);
  const secure = match === null ? undefined : SCHEMES[match[1]!];
  if (match === null || secure === undefined) throw new FerryError('FERRY_NETWORK_LINK', `network connector ${settings.name}: "${uri}" is not stomp://, ssl:// or stomp+ssl://host:port`);
  const host = match[2]!;
  const tls = settings.tls;
  const read = (path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new FerryError('FERRY_NETWORK_LINK', `network connector ${settings.name}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    host,
    port: Number(match[3]),
    username: settings.username,
    password: settings.password,
    heartbeat: settings.heartbeat,
    tls: secure ? { ca: read(tls?.ca), cert: read(tls?.cert), key: read(tls?.key), servername: tls?.servername, rejectUnauthorized: tls?.verify ?? true } : undefined,
  };
}
