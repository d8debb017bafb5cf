import { Client, type IFrame, type IMessage, type StompHeaders, type StompSubscription } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Inbox as BaseInbox } from './inbox.js';

export interface StompTestClient {
  readonly client: Client;
  readonly connected: IFrame;
  /** ERROR frames the broker sent this client. */
  readonly errors: IFrame[];
  /** Resolves when the socket closes. */
  readonly closed: Promise<void>;
  subscribe(destination: string, headers?: StompHeaders): Inbox;
  /** Sends and waits for the broker's RECEIPT. */
  sendConfirmed(destination: string, body: string, headers?: StompHeaders): Promise<void>;
  disconnect(): Promise<void>;
}

/** Messages of one subscription, taken in order with a time limit. */
export class Inbox extends BaseInbox<IMessage> {
  subscription!: StompSubscription;

  constructor() {
    super('message', (m) => m.body);
  }
}

/** The TCP wrapper over TLS, through the socket factory it offers for overriding. */
function tlsWrapper(options: ConnectionOptions): typeof TCPWrapper {
  return class extends TCPWrapper {
    protected override getSocket(port: number, host: string): ReturnType<TCPWrapper['getSocket']> {
      return tlsConnect({ port, host, ...options });
    }
  };
}

/** Connects @stomp/stompjs over TCP (its official TCP wrapper), or TLS with `tls`, and waits for CONNECTED. */
export async function connectStomp(
  port: number,
  options: { version?: '1.0' | '1.1' | '1.2'; headers?: StompHeaders; heartbeatIncoming?: number; heartbeatOutgoing?: number; tls?: ConnectionOptions; host?: string } = {},
): Promise<StompTestClient> {
  const host = options.host ?? '127.0.0.1';
  const errors: IFrame[] = [];
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const client = new Client({
    webSocketFactory: () => (options.tls === undefined ? new TCPWrapper(host, port) : new (tlsWrapper(options.tls))(host, port)),
    connectHeaders: { host: 'localhost', ...(options.headers ?? {}) },
    reconnectDelay: 0,
    heartbeatIncoming: options.heartbeatIncoming ?? 0,
    heartbeatOutgoing: options.heartbeatOutgoing ?? 0,
    debug: () => {},
  });
  if (options.version !== undefined) {
    const { Versions } = await import('@stomp/stompjs');
    client.stompVersions = new Versions([options.version]);
  }
  client.onStompError = (frame) => errors.push(frame);
  const connected = await new Promise<IFrame>((resolve, reject) => {
    client.onConnect = resolve;
    client.onWebSocketError = (err: unknown) => reject(new Error(`socket error: ${String(err)}`));
    // a server that closes the socket without a word (a TLS listener refusing the client) would otherwise leave this waiting
    client.onWebSocketClose = () => {
      onClosed();
      reject(new Error('socket closed before CONNECTED'));
    };
    client.activate();
  });
  client.onWebSocketClose = () => onClosed();
  return stompTestClient(client, connected, errors, closed);
}

/** The test-facing side of a connected @stomp/stompjs client, whatever carries it. */
export function stompTestClient(client: Client, connected: IFrame, errors: IFrame[], closed: Promise<void>): StompTestClient {
  return {
    client,
    connected,
    errors,
    closed,
    subscribe(destination, headers = {}) {
      const inbox = new Inbox();
      inbox.subscription = client.subscribe(destination, (m) => inbox.push(m), headers);
      return inbox;
    },
    async sendConfirmed(destination, body, headers = {}) {
      const receipt = `r-${Math.random().toString(36).slice(2)}`;
      const confirmed = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
      client.publish({ destination, body, headers: { ...headers, receipt } });
      await confirmed;
    },
    async disconnect() {
      await client.deactivate();
    },
  };
}
