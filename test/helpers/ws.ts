import { Client, Versions, type IFrame, type StompHeaders } from '@stomp/stompjs';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { stompTestClient, type StompTestClient } from './stomp.js';

export const stompSubprotocols = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

export interface StompWsOptions {
  /** Subprotocols offered in the handshake (default: the three STOMP ones). */
  readonly subprotocols?: readonly string[];
  /** Send binary WebSocket frames instead of stompjs's default text frames. */
  readonly binary?: boolean;
  readonly version?: '1.0' | '1.1' | '1.2';
  readonly headers?: StompHeaders;
  readonly heartbeatIncoming?: number;
  readonly heartbeatOutgoing?: number;
  /** Called with every WebSocket message the client receives, before stompjs sees it. */
  readonly onRawMessage?: (data: RawData, isBinary: boolean) => void;
  /** wss, with these TLS options (ca, cert, key). */
  readonly tls?: ClientOptions;
}

/** Connects @stomp/stompjs over a real WebSocket (the `ws` package) and waits for CONNECTED. */
export async function connectStompWs(port: number, options: StompWsOptions = {}): Promise<StompTestClient & { readonly socket: () => WebSocket }> {
  const errors: IFrame[] = [];
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  let socket: WebSocket | undefined;
  const client = new Client({
    webSocketFactory: () => {
      socket = new WebSocket(`${options.tls === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}/stomp`, [...(options.subprotocols ?? stompSubprotocols)], options.tls ?? {});
      if (options.onRawMessage !== undefined) socket.on('message', options.onRawMessage);
      return socket;
    },
    connectHeaders: { host: 'localhost', ...(options.headers ?? {}) },
    reconnectDelay: 0,
    heartbeatIncoming: options.heartbeatIncoming ?? 0,
    heartbeatOutgoing: options.heartbeatOutgoing ?? 0,
    forceBinaryWSFrames: options.binary === true,
    debug: () => {},
  });
  if (options.version !== undefined) client.stompVersions = new Versions([options.version]);
  client.onStompError = (frame) => errors.push(frame);
  client.onWebSocketClose = () => onClosed();
  const connected = await new Promise<IFrame>((resolve, reject) => {
    client.onConnect = resolve;
    client.onWebSocketError = (err: unknown) => reject(new Error(`WebSocket error: ${String((err as { message?: unknown }).message ?? err)}`));
    client.onWebSocketClose = (event: { code?: number; reason?: string }) => {
      onClosed();
      reject(new Error(`WebSocket closed before CONNECTED: ${event.code ?? '?'} ${event.reason ?? ''}`));
    };
    client.activate();
  });
  client.onWebSocketClose = () => onClosed();
  return { ...stompTestClient(client, connected, errors, closed), socket: () => socket! };
}

export interface Handshake {
  /** The HTTP status when the server refused the upgrade. */
  readonly status?: number;
  readonly body?: string;
  /** The subprotocol the server chose when it accepted. */
  readonly protocol?: string;
  readonly socket?: WebSocket;
}

/**
 * Opens a raw WebSocket; resolves with the chosen subprotocol, or with the refusal's status and body.
 * `origin` makes it a browser page's (no Origin: not a browser); `host` addresses it to that name.
 */
export function openWebSocket(port: number, subprotocols: readonly string[], path = '/', from: { readonly origin?: string | undefined; readonly host?: string } = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const options = { ...(from.origin === undefined ? {} : { origin: from.origin }), ...(from.host === undefined ? {} : { headers: { host: from.host } }) };
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, [...subprotocols], options);
    socket.once('open', () => resolve({ protocol: socket.protocol, socket }));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.once('error', (err) => reject(err));
  });
}

/** Messages a raw WebSocket receives, and how it closed. */
export class WsRecorder {
  readonly messages: { data: Buffer; binary: boolean }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private notify: (() => void) | undefined;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: RawData, binary: boolean) => {
      this.messages.push({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), binary });
      this.notify?.();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', (code: number, reason: Buffer) => {
        resolve({ code, reason: reason.toString() });
        this.notify?.();
      }),
    );
  }

  /** All received bytes, joined. */
  text(): string {
    return Buffer.concat(this.messages.map((m) => m.data)).toString('utf8');
  }

  /** Waits until the joined text matches, or fails after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.text();
      if (pattern.test(text)) return text;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${String(pattern)} within ${timeoutMs} ms; got ${JSON.stringify(text.slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.notify = undefined;
    }
  }
}

/** A STOMP upgrade from a page at `origin`, addressed to `host` if given: its status (101 when it opened; the socket is closed again). */
export async function upgradeStatus(port: number, origin: string | undefined, host?: string): Promise<{ status: number; body: string }> {
  const handshake = await openWebSocket(port, stompSubprotocols, '/stomp', { origin, ...(host === undefined ? {} : { host }) });
  handshake.socket?.close();
  return { status: handshake.status ?? 101, body: handshake.body ?? '' };
}
