import type { BrokerAccess, Logger } from '../core/index.js';
import type { ProtocolAdapter } from './adapter.js';
import type { TransportConnection, TransportHandler } from './connection.js';
import { deadlineTimer } from './deadline.js';

/** Every protocol says what it is within this many bytes; a client that has sent more without one matching is not one of them. */
const MOST_BYTES_TO_DECIDE = 64;

/**
 * One port for several protocols (ActiveMQ's `auto` transport): the connection is handed to the
 * first adapter whose `detect` recognises the client's first bytes, and those bytes are replayed to
 * it. Until then nothing is sent, so a protocol whose server speaks first (OpenWire) does so once
 * its client has spoken.
 *
 * A client whose protocol is still undecided at the time-out (it has sent nothing, or too little) is
 * dropped, or, with `undecided: 'fallback'`, handed to the fallback with what it sent: the
 * fallback's own opening time-out, counted from the same accept, then answers it in its terms.
 */
export function detectingAdapter(name: string, adapters: readonly ProtocolAdapter[], timeoutMs: number, logger: Logger, fallback?: ProtocolAdapter, undecided: 'drop' | 'fallback' = 'drop'): ProtocolAdapter {
  return {
    name,
    detect: (firstBytes) => {
      const verdicts = (fallback === undefined ? adapters : [...adapters, fallback]).map((a) => a.detect(firstBytes));
      return verdicts.includes(true) ? true : verdicts.includes(undefined) ? undefined : false;
    },
    webSocketProtocols: [],
    attach(connection: TransportConnection, broker: BrokerAccess): void {
      let first: Buffer = Buffer.alloc(0);
      const handover: { chosen: TransportHandler | undefined } = { chosen: undefined };
      const handOver = (adapter: ProtocolAdapter): void => {
        adapter.attach(handedOver(connection, (handler) => (handover.chosen = handler)), broker);
        const bytes = first;
        first = Buffer.alloc(0);
        if (bytes.length > 0) (handover.chosen as TransportHandler | undefined)?.data(bytes);
      };
      const timer = deadlineTimer(connection.openedAt, timeoutMs, () => {
        if (undecided === 'fallback' && fallback !== undefined) return handOver(fallback);
        logger.warn({ event: 'listener.detect-timeout', listener: name, remote: connection.remoteAddress }, 'a client sent too little to tell its protocol in time');
        connection.destroy();
      });
      connection.setHandler({
        data: (chunk) => {
          if (handover.chosen !== undefined) return handover.chosen.data(chunk);
          first = first.length === 0 ? chunk : Buffer.concat([first, chunk]);
          let adapter = adapters.find((a) => a.detect(first) === true);
          // a port whose own protocol answers what it does not understand (AMQP 1.0 sends its header back) keeps doing so
          if (adapter === undefined && fallback !== undefined && adapters.every((a) => a.detect(first) === false)) adapter = fallback;
          if (adapter === undefined) {
            if (first.length >= MOST_BYTES_TO_DECIDE || adapters.every((a) => a.detect(first) === false)) {
              clearTimeout(timer);
              logger.warn({ event: 'listener.unknown-protocol', listener: name, remote: connection.remoteAddress, protocols: adapters.map((a) => a.name) }, 'a client spoke none of the protocols of this port');
              connection.destroy();
            }
            return;
          }
          clearTimeout(timer);
          handOver(adapter);
        },
        closed: (error) => {
          clearTimeout(timer);
          handover.chosen?.closed(error);
        },
      });
    },
    async publishOnStop(): Promise<void> {
      await Promise.all([...adapters, ...(fallback === undefined ? [] : [fallback])].map((adapter) => adapter.publishOnStop?.()));
    },
    stopping(): void {
      for (const adapter of adapters) adapter.stopping?.();
      fallback?.stopping?.();
    },
    close(): void {
      for (const adapter of adapters) adapter.close();
      fallback?.close();
    },
  };
}

/** The same connection for the adapter that takes it over: its handler replaces the detector's. */
function handedOver(connection: TransportConnection, setHandler: (handler: TransportHandler) => void): TransportConnection {
  return {
    id: connection.id,
    remoteAddress: connection.remoteAddress,
    localAddress: connection.localAddress,
    ...(connection.openedAt === undefined ? {} : { openedAt: connection.openedAt }),
    peerCertificate: connection.peerCertificate,
    write: (data) => connection.write(data),
    ...(connection.reserve === undefined ? {} : { reserve: (size: number) => connection.reserve!(size) }),
    ...(connection.sendReserved === undefined ? {} : { sendReserved: () => connection.sendReserved!() }),
    isWritable: () => connection.isWritable(),
    onWritable: (resume) => connection.onWritable(resume),
    get pendingBytes() {
      return connection.pendingBytes;
    },
    pause: () => connection.pause(),
    resume: () => connection.resume(),
    end: () => connection.end(),
    destroy: () => connection.destroy(),
    get closed() {
      return connection.closed;
    },
    setHandler,
  };
}
