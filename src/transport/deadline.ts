import type { Socket } from 'node:net';
import { addressWithPort } from './connection.js';

/**
 * The longest delay a Node timer keeps: 2^31-1 ms, about 24.8 days. A longer one is set to 1 ms
 * (with a TimeoutOverflowWarning), so a periodic check asked to run "practically never" would run
 * every millisecond. A check that compares elapsed time with its limit stays right when it runs
 * more often than its limit, so its period is capped here.
 */
export const MAX_TIMER_DELAY = 2_147_483_647;

/** `ms` as a timer's delay: at most MAX_TIMER_DELAY. */
export function timerDelay(ms: number): number {
  return Math.min(MAX_TIMER_DELAY, ms);
}

/**
 * A timer for what is left of `timeoutMs` counted from `openedAt` (ms, `Date.now()`): every stage
 * of opening a connection (TLS handshake, WebSocket upgrade, protocol detection, the protocol's
 * CONNECT) counts from the moment the socket was accepted, so a client that dawdles through each
 * stage is dropped when the time-out says, not once per stage later.
 */
export function deadlineTimer(openedAt: number | undefined, timeoutMs: number, fire: () => void): NodeJS.Timeout {
  const left = openedAt === undefined ? timeoutMs : openedAt + timeoutMs - Date.now();
  return setTimeout(fire, Math.max(0, left));
}

interface Opening {
  readonly at: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * The stage of opening a connection that happens before a `TransportConnection` exists (a TLS
 * handshake, an HTTP upgrade or request head): a socket accepted and not `opened` within the
 * time-out is destroyed, on its own timer rather than on the HTTP server's coarse sweep (which
 * checks once a second, and then only for sockets that have sent something). Sockets are known
 * by their remote address, which a TLS socket shares with the TCP socket under it.
 */
export class OpeningDeadlines {
  private readonly opening = new Map<string, Opening>();

  constructor(
    private readonly timeoutMs: number,
    /** `remote`: the address and port read at accept, which a socket closed by its peer no longer has. */
    private readonly expired: (socket: Socket, remote: string) => void = (socket) => socket.destroy(),
  ) {}

  /** A TCP socket was accepted: its clock starts. */
  accepted(socket: Socket): void {
    const key = addressWithPort(socket.remoteAddress, socket.remotePort);
    const at = Date.now();
    const timer = setTimeout(() => {
      this.opening.delete(key);
      this.expired(socket, key);
    }, this.timeoutMs);
    this.opening.set(key, { at, timer });
    socket.once('close', () => {
      const entry = this.opening.get(key);
      if (entry?.timer === timer) {
        clearTimeout(timer);
        this.opening.delete(key);
      }
    });
  }

  /** The stage is done for this socket: stops its timer; returns when it was accepted. */
  opened(socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }): number | undefined {
    const key = addressWithPort(socket.remoteAddress, socket.remotePort);
    const entry = this.opening.get(key);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    this.opening.delete(key);
    return entry.at;
  }

  /** Sockets still opening. */
  get size(): number {
    return this.opening.size;
  }

  clear(): void {
    for (const entry of this.opening.values()) clearTimeout(entry.timer);
    this.opening.clear();
  }
}
