import { Client, type IFrame, type IMessage, type StompHeaders, type StompSubscription } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';

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
export class Inbox {
  private readonly messages: IMessage[] = [];
  private waiter: (() => void) | undefined;
  subscription!: StompSubscription;

  push(message: IMessage): void {
    this.messages.push(message);
    this.waiter?.();
  }

  get size(): number {
    return this.messages.length;
  }

  async next(timeoutMs = 3000): Promise<IMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.messages.shift()!;
  }

  async take(n: number, timeoutMs = 5000): Promise<IMessage[]> {
    const out: IMessage[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  /** Asserts nothing arrives for `ms` milliseconds (used only where absence is the behaviour under test). */
  async expectNothing(ms = 300): Promise<void> {
    try {
      const m = await this.next(ms);
      throw new Error(`expected no message, got ${m.body}`);
    } catch (err) {
      if ((err as Error).message.startsWith('expected no message')) throw err;
    }
  }
}

/** Connects @stomp/stompjs over TCP (its official TCP wrapper) and waits for CONNECTED. */
export async function connectStomp(
  port: number,
  options: { version?: '1.0' | '1.1' | '1.2'; headers?: StompHeaders; heartbeatIncoming?: number; heartbeatOutgoing?: number } = {},
): Promise<StompTestClient> {
  const errors: IFrame[] = [];
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const client = new Client({
    webSocketFactory: () => new TCPWrapper('127.0.0.1', port),
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
  client.onWebSocketClose = () => onClosed();
  const connected = await new Promise<IFrame>((resolve, reject) => {
    client.onConnect = resolve;
    client.onWebSocketError = (err: unknown) => reject(new Error(`socket error: ${String(err)}`));
    client.activate();
  });
  const result: StompTestClient = {
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
  return result;
}
