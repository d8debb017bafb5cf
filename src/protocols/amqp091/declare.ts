import type { CoreConnection, PropertyValue } from '../../core/index.js';
import type { BindingSpec, ExchangeType, QueueArguments } from '../../core/index.js';
import { Amqp091Error, Reply } from './errors.js';
import { Typed, type FieldTable, type FieldValue } from './field-table.js';
import { toProperty } from './mapping.js';
import type { MethodArgs } from './methods.js';

/**
 * The exchange and queue classes, mapped onto core's declarations. Each returns the reply method
 * to send (unless the client asked for no-wait); failures are FerryErrors that the channel turns
 * into a channel exception (404, 405, 406, 403) or, for a bad exchange type, a connection one (503).
 */

const EXCHANGE_TYPES: readonly string[] = ['direct', 'topic', 'fanout', 'headers'];

function precondition(text: string): Amqp091Error {
  return new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, text);
}

/** An integer argument as RabbitMQ reads it: any integer field type, or a precondition failure naming it. */
function integerArgument(table: FieldTable, name: string): number | undefined {
  const v = table.get(name);
  if (v === undefined) return undefined;
  const n = v instanceof Typed ? v.value : typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw precondition(`invalid arg '${name}' for queue: an integer is expected`);
  return n;
}

function stringArgument(table: FieldTable, name: string): string | undefined {
  const v = table.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw precondition(`invalid arg '${name}' for queue: a string is expected`);
  return v;
}

export function queueArguments(table: FieldTable): QueueArguments {
  const overflow = stringArgument(table, 'x-overflow');
  if (overflow !== undefined && overflow !== 'drop-head' && overflow !== 'reject-publish' && overflow !== 'reject-publish-dlx') {
    throw precondition(`invalid arg 'x-overflow' for queue: '${overflow}'`);
  }
  const single = table.get('x-single-active-consumer');
  if (single !== undefined && typeof single !== 'boolean') throw precondition("invalid arg 'x-single-active-consumer' for queue: a boolean is expected");
  const args: Record<string, unknown> = {
    messageTtl: integerArgument(table, 'x-message-ttl'),
    expires: integerArgument(table, 'x-expires'),
    deadLetterExchange: stringArgument(table, 'x-dead-letter-exchange'),
    deadLetterRoutingKey: stringArgument(table, 'x-dead-letter-routing-key'),
    maxLength: integerArgument(table, 'x-max-length'),
    maxLengthBytes: integerArgument(table, 'x-max-length-bytes'),
    overflow,
    maxPriority: integerArgument(table, 'x-max-priority'),
    singleActiveConsumer: single,
    // whatever x-queue-type says: Ferry's queues are of one type, and a limit asked for is kept
    deliveryLimit: integerArgument(table, 'x-delivery-limit'),
  };
  for (const key of Object.keys(args)) if (args[key] === undefined) delete args[key];
  return args as QueueArguments;
}

export function declareExchange(core: CoreConnection, a: MethodArgs<'exchange.declare'>): void {
  if (!a.passive && !EXCHANGE_TYPES.includes(a.type)) {
    // RabbitMQ: an unknown exchange type is a connection exception
    throw new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.commandInvalid, `unknown exchange type '${a.type}'`);
  }
  const alternate = a.arguments.get('alternate-exchange');
  core.declareExchange(
    {
      name: a.exchange,
      type: (EXCHANGE_TYPES.includes(a.type) ? a.type : 'direct') as ExchangeType,
      durable: a.durable,
      autoDelete: a.autoDelete,
      internal: a.internal,
      ...(typeof alternate === 'string' ? { alternateExchange: alternate } : {}),
    },
    a.passive,
  );
}

/**
 * A binding's spec; a headers binding's condition comes from its arguments: `x-match` and the
 * values to match, the `x-` ones among them only with `all-with-x` or `any-with-x` (RabbitMQ 3.10).
 */
export function bindingSpec(source: string, destination: BindingSpec['destination'], routingKey: string, args: FieldTable): BindingSpec {
  const match = args.get('x-match');
  if (match === undefined && !hasHeaderValues(args)) return { source, destination, routingKey };
  if (match !== undefined && match !== 'all' && match !== 'any' && match !== 'all-with-x' && match !== 'any-with-x') {
    throw precondition(`invalid x-match field value '${String(match)}'; expected all, any, all-with-x, or any-with-x`);
  }
  const withX = match === 'all-with-x' || match === 'any-with-x';
  const values = new Map<string, PropertyValue>();
  for (const [name, value] of args) if (name !== 'x-match' && (withX || !name.startsWith('x-'))) values.set(name, headerValue(value));
  return { source, destination, routingKey, headers: { match: match ?? 'all', values } };
}

function hasHeaderValues(args: FieldTable): boolean {
  for (const name of args.keys()) if (!name.startsWith('x-')) return true;
  return false;
}

function headerValue(value: FieldValue): PropertyValue {
  return toProperty(value);
}
