import type { ConsumerHandle } from './access.js';
import type { Consumer } from './consumer.js';
import type { Delivery, DeliverySink } from './sink.js';

export type GetAckMode = 'auto' | 'individual';

/** A getter's consumer as the session hands it to its adapter. */
export interface GetterHandle extends ConsumerHandle {
  readonly consumer: Consumer;
}

/**
 * A session's single gets from queues (AMQP 0-9-1's basic.get): one consumer per ack mode and
 * queue, made by the first get and kept for the next, not registered with its queue. It lives
 * among the session's consumers, so it closes with the session and its unsettled messages are
 * then redelivered.
 */
export class QueueGets {
  private readonly getters = new Map<string, { handle: GetterHandle; sink: GetSink }>();

  constructor(
    /** `ConnectionHost.getter` for the session's connection. */
    private readonly open: (queue: string, ackMode: GetAckMode, sink: DeliverySink, reuse: Consumer | undefined) => Consumer,
    /** The adapter's handle on a consumer, as the session's subscriptions get. */
    private readonly handleOf: (consumer: Consumer) => GetterHandle,
    /** The session's consumers. */
    private readonly consumers: Set<ConsumerHandle>,
  ) {}

  /** See `CoreSession.get`. */
  get(queue: string, ackMode: GetAckMode): { delivery: Delivery; consumer: ConsumerHandle; messageCount: number } | undefined {
    const key = `${ackMode}:${queue}`;
    const getters = this.getters;
    const previous = getters.get(key);
    const sink = previous?.sink ?? new GetSink();
    const consumer = this.open(queue, ackMode, sink, previous?.handle.consumer);
    let getter = previous;
    if (getter === undefined || getter.handle.consumer !== consumer) {
      if (getter !== undefined) getter.handle.close();
      getter = { handle: this.handleOf(consumer), sink };
      getters.set(key, getter);
      const consumers = this.consumers;
      const handle = getter.handle;
      consumers.add(handle);
      consumer.onClose = () => {
        consumers.delete(handle);
        if (getters.get(key)?.handle === handle) getters.delete(key);
      };
    }
    sink.taken = undefined;
    if (!consumer.queue.takeOne(consumer)) return undefined;
    const delivery = sink.taken as Delivery | undefined;
    if (delivery === undefined) return undefined;
    return { delivery, consumer: getter.handle, messageCount: consumer.queue.pendingCount };
  }

  /** See `CoreSession.whenGettable`. */
  whenGettable(queue: string, ackMode: GetAckMode): Promise<void> | undefined {
    return this.getters.get(`${ackMode}:${queue}`)?.handle.consumer.queue.bodiesBeingRead();
  }
}

/** Where a get's delivery lands: the get takes it from here as soon as the queue has handed it over. */
class GetSink implements DeliverySink {
  taken: Delivery | undefined;

  deliver(delivery: Delivery): void {
    this.taken = delivery;
  }

  isWritable(): boolean {
    return true;
  }

  onWritable(): void {}
}
