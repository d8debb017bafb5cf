import type { ConsumerHandle, CoreConnection, Delivery, Destination } from '../../src/core/index.js';

/**
 * A consumer through core, without a protocol: takes `count` messages (with individual
 * acknowledgement, each a turn later as a consumer over a socket would, unless `acknowledge` is
 * false) and resolves with copies of their bodies in arrival order.
 */
export function consume(
  connection: CoreConnection,
  destination: Destination,
  count: number,
  options: { selector?: string; acknowledge?: boolean; prefetch?: number } = {},
): { done: Promise<Buffer[]>; consumer: ConsumerHandle } {
  const bodies: Buffer[] = [];
  let resolve!: (bodies: Buffer[]) => void;
  const done = new Promise<Buffer[]>((r) => (resolve = r));
  const consumer: ConsumerHandle = connection.createSession().subscribe({
    destination,
    ackMode: 'individual',
    prefetch: options.prefetch ?? 100,
    ...(options.selector === undefined ? {} : { selector: options.selector }),
    sink: {
      deliver: (delivery: Delivery) => {
        bodies.push(Buffer.from(delivery.message.body));
        const last = bodies.length === count;
        if (options.acknowledge === false) {
          if (last) resolve(bodies);
          return;
        }
        setImmediate(() => {
          consumer.acknowledge(delivery.tag);
          if (last) resolve(bodies);
        });
      },
      isWritable: () => true,
      onWritable: () => {},
    },
  });
  return { done, consumer };
}

/** Every body a browser on `destination` is handed, once it reports the end. */
export function browseAll(connection: CoreConnection, destination: Destination): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const bodies: Buffer[] = [];
    connection.createSession().subscribe({
      destination,
      browse: true,
      sink: { deliver: (d) => bodies.push(d.message.body), isWritable: () => true, onWritable: () => {}, browseEnd: () => resolve(bodies) },
    });
  });
}
