import type { BrokerAccess, ConnectRequest, CoreConnection } from '../core/index.js';
import { FerryError } from '../errors.js';
import { encodeFrame, type DuplexPeer, type StompFrame } from '../protocols/stomp/index.js';
import type { ProtocolAdapter, TransportConnection, TransportHandler } from '../transport/index.js';
import type { ConnectorSettings } from './settings.js';
import type { NeighbourLink } from './link.js';

/** Unsent bytes past which the server side of a duplex link stops delivering until they drain. */
const HIGH_WATER = 1024 * 1024;
/** Ids of the server sides' transports, apart from the listeners' own. */
let nextTransportId = 1_000_000_000;

/**
 * The CONNECT headers that ask the neighbour to pull from this broker over a link, with the
 * connector's rules for that direction.
 */
export function duplexHeaders(self: string, settings: ConnectorSettings): [string, string][] {
  return [
    ['ferry.duplex', 'true'],
    ['ferry.duplex-broker', self],
    ['ferry.duplex-connector', settings.name],
    ['ferry.duplex-ttl', String(settings.ttl)],
    ['ferry.duplex-prefetch', String(settings.prefetch)],
    ['ferry.duplex-local-first', String(settings.localFirst)],
    ['ferry.duplex-include', settings.include.join(',')],
    ['ferry.duplex-exclude', settings.exclude.join(',')],
  ];
}

/** The settings of the connector that runs back over a duplex link a neighbour opened here. */
export function acceptedSettings(peer: DuplexPeer): ConnectorSettings {
  const headers = peer.connect;
  const list = (name: string): string[] => (headers.get(name) ?? '').split(',').filter((item) => item !== '');
  const count = (name: string, fallback: number): number => {
    const value = Number(headers.get(name));
    return Number.isInteger(value) && value > 0 ? value : fallback;
  };
  const neighbour = headers.get('ferry.duplex-broker') ?? peer.remoteAddress;
  return {
    name: `duplex-${neighbour}-${headers.get('ferry.duplex-connector') ?? 'link'}`,
    uris: [`duplex://${peer.remoteAddress}`],
    include: list('ferry.duplex-include'),
    exclude: list('ferry.duplex-exclude'),
    ttl: count('ferry.duplex-ttl', 4),
    prefetch: count('ferry.duplex-prefetch', 100),
    localFirst: headers.get('ferry.duplex-local-first') === 'true',
    reconnectDelay: 100,
    maxReconnectDelay: 5000,
    heartbeat: 0,
    duplex: false,
  };
}

/**
 * This broker serving the neighbour's link that runs back over a duplex connection: a STOMP session
 * of this broker's own, fed the client frames the neighbour sends on the link and writing its
 * answers down the same socket. It opens its core connection as the broker itself: the neighbour
 * takes what the connector's rules let its demand ask for, and no user's rights apply.
 */
export class DuplexServerSide {
  private handler: TransportHandler | undefined;
  private ended = false;

  constructor(link: NeighbourLink, stomp: ProtocolAdapter, broker: BrokerAccess, connectorName: string) {
    const transport: TransportConnection = {
      id: nextTransportId++,
      remoteAddress: `network:${connectorName}`,
      openedAt: Date.now(),
      write: (data) => link.writeServerBytes(data),
      isWritable: () => link.pendingBytes < HIGH_WATER,
      onWritable: (resume) => link.onDrained(resume),
      get pendingBytes() {
        return link.pendingBytes;
      },
      // the neighbour only subscribes and acknowledges here: it has no sends to hold back
      pause: () => {},
      resume: () => {},
      end: () => this.end(link),
      destroy: () => this.end(link),
      get closed() {
        return link.isClosed;
      },
      setHandler: (handler) => {
        this.handler = handler;
      },
    };
    stomp.attach(transport, asBroker(broker));
  }

  /** A client frame the neighbour sent on the link. */
  frame(frame: StompFrame): void {
    this.handler?.data(encodeFrame(frame.command, frame.headers, frame.body.length === 0 ? undefined : frame.body, '1.2'));
  }

  /** The connection is gone: the session gives back what it had in flight. */
  closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.handler?.closed();
  }

  /** The session ended the link (an ERROR, a DISCONNECT): both directions go, and the connector links again. */
  private end(link: NeighbourLink): void {
    link.lost(new FerryError('FERRY_NETWORK_LINK', 'the server side of the duplex link closed it'));
    this.closed();
  }
}

/** The broker with every connection opened as its own. */
function asBroker(broker: BrokerAccess): BrokerAccess {
  return new Proxy(broker, {
    get(target, property, receiver) {
      if (property === 'connect') return (request: ConnectRequest): Promise<CoreConnection> => target.connect({ ...request, internal: true });
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}
