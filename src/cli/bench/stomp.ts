import { StompClient } from '../stomp-client.js';
import type { BenchConsumer, BenchProducer, BenchProtocol, BenchTarget } from './links.js';

/** STOMP through the CLI's own client: receipts confirm persistent sends, consumers ack automatically. */

function login(target: BenchTarget): Record<string, string> {
  return target.user === undefined ? {} : { login: target.user, passcode: target.password ?? '' };
}

const destination = (target: BenchTarget): string => `/${target.kind}/${target.name}`;

async function open(target: BenchTarget, onFailure: (err: Error) => void): Promise<StompClient> {
  const client = await StompClient.open(target.host, target.port, login(target), target.tls ? { ca: target.ca } : undefined);
  client.onError = onFailure;
  return client;
}

export const stompBench: BenchProtocol = {
  defaultPort: 61613,

  async producer(target, onFailure): Promise<BenchProducer> {
    const client = await open(target, onFailure);
    const headers: Record<string, string> = { destination: destination(target), 'content-type': 'application/octet-stream' };
    if (target.persistent) headers['persistent'] = 'true';
    return {
      send(body) {
        const frame = { ...headers, 'content-length': String(body.length) };
        if (target.persistent) return client.request('SEND', frame, body);
        return client.write('SEND', frame, body) ? Promise.resolve() : client.drained();
      },
      close: () => client.close(),
    };
  },

  async consumer(target, onMessage, onFailure): Promise<BenchConsumer> {
    const client = await open(target, onFailure);
    client.onMessage = (frame) => onMessage(frame.body);
    // the receipt says the subscription is in place before any producer starts
    await client.request('SUBSCRIBE', { destination: destination(target), id: 'bench', ack: 'auto', 'activemq.prefetchSize': '1000' });
    return { close: () => client.close() };
  },
};
