import { FerryError } from '../../errors.js';
import type { CoreConnection, Destination } from '../../core/index.js';
import { capabilityOf, dynamicKind, formatAddress, parseAddress } from './address.js';
import { AmqpSymbol, Described, type AmqpValue, type AmqpWriter } from './codec.js';
import { CoordinatorLink } from './coordinator.js';
import { Composite, codeOf, fieldsOf, put, symbolsField } from './frames.js';
import { ProducerLink } from './incoming.js';
import type { AmqpOptions } from './options.js';
import { ConsumerLink } from './outgoing.js';
import type { AmqpSession, AttachAnswer, AttachRequest } from './session.js';

/**
 * The broker's end of a link, made from the client's attach: a consumer for a receiving link, a
 * producer or a transaction coordinator for a sending one. Terminus fields are read here ([AMQP
 * 3.5.3, 3.5.4]) and echoed back with what the broker made of them.
 */

/** A consumer's prefetch that never binds: what its link's credit lets through may all stay unsettled. */
const UNLIMITED_PREFETCH = 0x7fffffff;
const SELECTOR_FILTER = 'apache.org:selector-filter:string';
const SELECTOR_FILTER_CODE = 0x0000468c00000004;
const NO_LOCAL_FILTER = 'apache.org:no-local-filter:list';
const NO_LOCAL_FILTER_CODE = 0x0000468c00000003;

/** What making a link needs from its connection. */
export interface LinkContext {
  readonly options: AmqpOptions;
  /** The client's container id: it owns the client's durable subscriptions. */
  readonly containerId: string;
  /** The connection's core connection; throws once it is closed. */
  core(): CoreConnection;
}

interface Terminus {
  readonly address: string | undefined;
  readonly durable: number;
  readonly expiryPolicy: string | undefined;
  readonly dynamic: boolean;
  readonly distributionMode: string | undefined;
  readonly filter: Map<AmqpValue, AmqpValue> | undefined;
  readonly capabilities: readonly string[];
}

function text(v: AmqpValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof AmqpSymbol) return v.name;
  return undefined;
}

function readTerminus(value: AmqpValue, source: boolean): Terminus | undefined {
  if (value === null) return undefined;
  const fields = fieldsOf(value);
  const durable = fields[1];
  const filter = source ? fields[7] : undefined;
  return {
    address: text(fields[0]),
    durable: typeof durable === 'number' ? durable : typeof durable === 'bigint' ? Number(durable) : 0,
    expiryPolicy: text(fields[2]),
    dynamic: fields[4] === true,
    distributionMode: source ? text(fields[6]) : undefined,
    filter: filter instanceof Map ? filter : undefined,
    capabilities: symbolsField(fields, source ? 10 : 6),
  };
}

function echoValue(value: AmqpValue): ((w: AmqpWriter) => void) | undefined {
  return value === null ? undefined : put.value(value);
}

function filterMap(entries: readonly [string, AmqpValue][]): (w: AmqpWriter) => void {
  return (w) =>
    w.compound(true, () => {
      for (const [key, value] of entries) {
        w.symbol(key);
        w.value(value);
      }
      return entries.length * 2;
    });
}

export function openLink(ctx: LinkContext, session: AmqpSession, request: AttachRequest, handle: number): AttachAnswer {
  if (request.clientReceives) return openConsumer(ctx, session, request, handle);
  if (codeOf(request.target) === Composite.coordinator) {
    const link = new CoordinatorLink(session, request.name, handle, request.handle);
    return {
      link,
      source: echoValue(request.source),
      target: put.described(Composite.coordinator, [put.symbols(['amqp:local-transactions'])]),
      sndSettleMode: request.sndSettleMode,
      rcvSettleMode: 0,
      started: () => link.start(),
    };
  }
  return openProducer(ctx, session, request, handle);
}

/**
 * A receiving link without a source names a durable subscription of the client's container by its
 * link name (Qpid JMS's `Session.unsubscribe` looks one up this way, then closes the link to end
 * it): the subscription's own source, as a durable attach would have given it.
 */
function durableSourceNamed(ctx: LinkContext, name: string): Terminus {
  if (ctx.containerId === '') throw new FerryError('FERRY_DESTINATION_INVALID', 'a receiving link needs a source');
  const kept = ctx.core().durableSubscriptions(ctx.containerId).find((d) => d.name === name);
  if (kept === undefined) throw new FerryError('FERRY_DESTINATION_NOT_FOUND', `no durable subscription "${name}" of container "${ctx.containerId}"`);
  const filter = new Map<AmqpValue, AmqpValue>();
  if (kept.selector !== undefined) filter.set('jms-selector', new Described(SELECTOR_FILTER, kept.selector));
  if (kept.noLocal) filter.set('no-local', new Described(NO_LOCAL_FILTER, []));
  return { address: kept.topic, durable: 2, expiryPolicy: 'never', dynamic: false, distributionMode: undefined, filter, capabilities: ['topic'] };
}

/** [AMQP 3.5.9] the dynamic-node-properties of a node made for a link: it is deleted when the link closes. */
function deleteOnClose(w: AmqpWriter): void {
  w.compound(true, () => {
    w.symbol('lifetime-policy');
    put.described(Composite.deleteOnClose, [])(w);
    return 2;
  });
}

/** The client attached a receiving link: a consumer on the link's source. */
function openConsumer(ctx: LinkContext, session: AmqpSession, request: AttachRequest, handle: number): AttachAnswer {
  const source = readTerminus(request.source, true) ?? durableSourceNamed(ctx, request.name);
  if (!source.dynamic) {
    if (source.address === undefined) throw new FerryError('FERRY_DESTINATION_INVALID', 'the source has no address');
    return consumerOn(ctx, session, request, handle, source, parseAddress(source.address, source.capabilities));
  }
  const node = ctx.core().createTemporaryDestination(dynamicKind(source.capabilities));
  try {
    const answer = consumerOn(ctx, session, request, handle, source, node);
    answer.link.dynamicNode = { connection: ctx.core(), destination: node };
    return answer;
  } catch (err) {
    // a refused link leaves no node behind
    ctx.core().deleteTemporaryDestination(node);
    throw err;
  }
}

function consumerOn(ctx: LinkContext, session: AmqpSession, request: AttachRequest, handle: number, source: Terminus, destination: Destination): AttachAnswer {
  // [AMQP 3.5.7] distribution-mode copy: the link browses the queue, taking nothing from it
  const browse = source.distributionMode === 'copy';

  // filters: a JMS selector and no-local; others are not applied and not echoed, so the client can tell
  let selector: string | undefined;
  let noLocal = false;
  const applied: [string, AmqpValue][] = [];
  for (const [key, filter] of source.filter ?? []) {
    if (!(filter instanceof Described) || typeof key !== 'string') continue;
    const descriptor = filter.descriptor;
    if (descriptor === SELECTOR_FILTER || descriptor === SELECTOR_FILTER_CODE) {
      if (typeof filter.value !== 'string') throw new FerryError('FERRY_SELECTOR_INVALID', 'a selector filter must hold a string');
      selector = filter.value;
      applied.push([key, filter]);
    } else if (descriptor === NO_LOCAL_FILTER || descriptor === NO_LOCAL_FILTER_CODE) {
      noLocal = true;
      applied.push([key, filter]);
    }
  }

  const durable = !browse && destination.kind === 'topic' && destination.temporary !== true && source.durable > 0 && source.expiryPolicy === 'never';
  const presettled = request.sndSettleMode === 1;
  if (durable && ctx.containerId === '') throw new FerryError('FERRY_DESTINATION_INVALID', 'a durable subscription needs a container-id in the open');
  const link = new ConsumerLink(session, request.name, handle, request.handle, presettled, durable ? { connection: ctx.core(), owner: ctx.containerId, name: request.name } : undefined, browse);
  link.consumer = session.core.subscribe({
    destination,
    sink: link,
    // link credit alone limits what is sent, as ActiveMQ's AMQP transport bounds it; how many
    // deliveries the client leaves unsettled is its own affair (a JMS client acknowledging a batch)
    prefetch: UNLIMITED_PREFETCH,
    ackMode: presettled ? 'auto' : 'individual',
    noLocal,
    selector,
    // AMQP properties are typed: a string is compared as a string (strict JMS), and that is stored with the subscription
    selectorConvertsStrings: false,
    durable: durable ? { name: request.name, owner: ctx.containerId } : undefined,
    browse,
  });
  const address = source.dynamic ? formatAddress(destination) : source.address;
  return {
    link,
    source: put.described(Composite.source, [
      address === undefined ? undefined : put.string(address),
      put.uint(durable ? source.durable : 0),
      put.symbol(durable ? 'never' : 'link-detach'),
      undefined,
      source.dynamic ? put.bool(true) : undefined,
      source.dynamic ? deleteOnClose : undefined,
      browse ? put.symbol('copy') : undefined,
      applied.length > 0 ? filterMap(applied) : undefined,
      undefined,
      undefined,
      put.symbols([capabilityOf(destination)]),
    ]),
    target: echoValue(request.target),
    // settled if asked; unsettled for unsettled and for mixed
    sndSettleMode: presettled ? 1 : 0,
    rcvSettleMode: request.rcvSettleMode === 1 ? 1 : 0,
    stored: durable ? ctx.core().synced() : undefined,
  };
}

/** The client attached a sending link: a producer to the link's target (or, without an address, an anonymous relay). */
function openProducer(ctx: LinkContext, session: AmqpSession, request: AttachRequest, handle: number): AttachAnswer {
  const target = readTerminus(request.target, false);
  let destination: Destination | undefined;
  if (target?.dynamic === true) destination = ctx.core().createTemporaryDestination(dynamicKind(target.capabilities));
  else if (target?.address !== undefined) {
    destination = parseAddress(target.address, target.capabilities);
    ctx.core().checkDestination(destination);
  }
  const link = new ProducerLink(session, request.name, handle, request.handle, session.core, destination);
  if (target?.dynamic === true) link.dynamicNode = { connection: ctx.core(), destination: destination! };
  // [AMQP 2.6.7] the receiver's delivery-count starts at the sender's: the credit it grants counts from there
  link.deliveryCount = request.initialDeliveryCount;
  const address = destination === undefined ? undefined : target?.dynamic === true ? formatAddress(destination) : target?.address;
  return {
    link,
    source: echoValue(request.source),
    target: put.described(Composite.target, [
      address === undefined ? undefined : put.string(address),
      undefined,
      // a dynamic node goes with its link, so its terminus does not outlive the link either
      target?.dynamic === true ? put.symbol('link-detach') : undefined,
      undefined,
      target?.dynamic === true ? put.bool(true) : undefined,
      target?.dynamic === true ? deleteOnClose : undefined,
      destination === undefined ? undefined : put.symbols([capabilityOf(destination)]),
    ]),
    sndSettleMode: request.sndSettleMode,
    // as the receiver the broker settles first, whatever the client asked: its attach says so [AMQP 2.6.12, 3.8.3]
    rcvSettleMode: 0,
    maxMessageSize: ctx.options.maxMessageSize,
    started: () => link.start(),
  };
}
