import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CoreConnection, Destination } from '../../core/index.js';
import { Amqp091Error, Reply } from './errors.js';

/**
 * RabbitMQ's direct reply-to. A channel consuming the pseudo-queue `amq.rabbitmq.reply-to` (no-ack
 * only) consumes a core temporary queue made for it; a request it publishes with that reply-to
 * carries `amq.rabbitmq.reply-to.<token>` instead, and a publish to the default exchange with that
 * key lands in the temporary queue, from any connection. The token is a MAC of the queue's name and
 * the name, in base64url, one level of a dotted name so that `amq.rabbitmq.reply-to.*` covers every
 * key in a grant. Replying needs only the right to publish to the key, not the rights on temporary
 * destinations that a send to `ID:...` needs, so the key must be one only the request's recipients
 * can know, as RabbitMQ's ends in a random secret. Core's temporary names are a prefix and a counter.
 */

export const REPLY_QUEUE = 'amq.rabbitmq.reply-to';
const REPLY_KEY_PREFIX = `${REPLY_QUEUE}.`;
/** Temporary queues end with the process, so a key need not outlive it, nor its secret. */
const KEY_SECRET = randomBytes(32);
/** 128 bits, as RabbitMQ's secret. */
const MAC_BYTES = 16;

function macOf(name: Buffer): Buffer {
  return createHmac('sha256', KEY_SECRET).update(name).digest().subarray(0, MAC_BYTES);
}

function precondition(text: string): Amqp091Error {
  return new Amqp091Error('FERRY_AMQP091_PROTOCOL', Reply.preconditionFailed, text);
}

/** The reply key of a temporary queue: what its requests' reply-to becomes. */
export function replyKeyOf(queue: Destination): string {
  const name = Buffer.from(queue.name, 'utf8');
  return REPLY_KEY_PREFIX + Buffer.concat([macOf(name), name]).toString('base64url');
}

/**
 * The temporary queue a default-exchange routing key stands for; undefined for an ordinary key. A
 * token that is malformed or whose MAC does not match stands for the key itself, a name no
 * temporary queue has, so core routes the message nowhere, as RabbitMQ drops a reply it cannot place.
 */
export function replyQueueOfKey(routingKey: string): string | undefined {
  if (!routingKey.startsWith(REPLY_KEY_PREFIX)) return undefined;
  const token = Buffer.from(routingKey.slice(REPLY_KEY_PREFIX.length), 'base64url');
  if (token.length <= MAC_BYTES) return routingKey;
  const name = token.subarray(MAC_BYTES);
  return timingSafeEqual(token.subarray(0, MAC_BYTES), macOf(name)) ? name.toString('utf8') : routingKey;
}

/** One channel's reply consumer and the temporary queue it takes from. */
export class DirectReplyTo {
  private queue: Destination | undefined;
  private consumerTag: string | undefined;

  constructor(private readonly core: () => CoreConnection) {}

  /** basic.consume of `amq.rabbitmq.reply-to`: the temporary queue to subscribe to, made now. */
  open(noAck: boolean): Destination {
    // RabbitMQ's own texts for both refusals
    if (!noAck) throw precondition('reply consumer cannot acknowledge');
    if (this.queue !== undefined) throw precondition('reply consumer already set');
    this.queue = this.core().createTemporaryDestination('queue');
    return this.queue;
  }

  /** The consumer is subscribed: its tag, so that cancelling it ends the reply queue. */
  opened(consumerTag: string): void {
    this.consumerTag = consumerTag;
  }

  /** The consume failed, or its consumer was cancelled: replies to the key are dropped from now on. */
  close(consumerTag?: string): void {
    if (consumerTag !== undefined && consumerTag !== this.consumerTag) return;
    const queue = this.queue;
    this.queue = undefined;
    this.consumerTag = undefined;
    const core = this.core();
    if (queue === undefined || core.isClosed) return;
    try {
      core.deleteTemporaryDestination(queue);
    } catch {
      // the connection already deleted it on its way out
    }
  }

  /**
   * The reply-to a request carries: `amq.rabbitmq.reply-to` becomes this channel's reply key, and
   * needs a reply consumer on the channel; any other value is left as it is.
   */
  rewrite(replyTo: string | undefined): { key: string; queue: Destination } | undefined {
    if (replyTo !== REPLY_QUEUE) return undefined;
    if (this.queue === undefined) throw precondition('fast reply consumer does not exist');
    return { key: replyKeyOf(this.queue), queue: this.queue };
  }
}
