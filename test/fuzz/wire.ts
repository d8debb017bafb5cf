import { connect, type Socket } from 'node:net';
import type { FuzzCase } from './mutate.js';
import { render } from './mutate.js';
import type { FuzzTarget, Reply } from './target.js';

/**
 * How one case ended:
 * - `accepted`: the probe after the case was answered, so the broker took the bytes (a mutation
 *   that kept the frame valid) or skipped them as its protocol allows;
 * - `refused`: the broker said why it ends the connection, in its protocol, and ended it (at the
 *   latest when the client ended its side: 0-9-1's connection.close waits for the client's close-ok);
 * - `closed`: the broker closed it without a word;
 * - `incomplete`: the broker was still waiting for the rest of a frame (a cut frame, a length
 *   larger than what followed) and closed when the client ended the connection.
 */
export type Outcome = 'accepted' | 'refused' | 'closed' | 'incomplete';

export interface CaseResult {
  readonly outcome: Outcome;
  readonly reply: Reply;
  /** Frames sent, mutated or not (random bytes count as one). */
  readonly frames: number;
  readonly bytes: Buffer;
  /** What is wrong with how the broker handled this case; empty when nothing is. */
  readonly problems: readonly string[];
}

export interface WireOptions {
  readonly port: number;
  /**
   * How long a connection may stay silent after the probe before the case counts as waiting for
   * the rest of a frame. Only a case that cut a frame short waits this long: any other gets an
   * answer to its probe, or a close.
   */
  readonly quietMs: number;
  /** The longest the broker may take to answer a valid handshake, or to close after the client's end. */
  readonly answerMs: number;
}

/** A raw connection that keeps every byte it receives and tells when the broker has closed. */
class RawConnection {
  private chunks: Buffer[] = [];
  private size = 0;
  private wake: (() => void) | undefined;
  /** The broker has ended or reset the connection. */
  brokerClosed = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      this.wake?.();
    });
    socket.on('end', () => {
      this.brokerClosed = true;
      this.wake?.();
    });
    socket.on('error', () => {
      this.brokerClosed = true;
      this.wake?.();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => {
      this.brokerClosed = true;
      this.wake?.();
    });
  }

  received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Waits until `done` holds, the broker closes, or `ms` pass; true when `done` holds. */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (done()) return true;
      const left = deadline - Date.now();
      if (this.brokerClosed || left <= 0) return done();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

function open(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('connect', () => resolve(new RawConnection(socket)));
    socket.once('error', reject);
  });
}

/** The bytes of the handshake, unchanged. */
export function handshakeBytes(target: FuzzTarget): Buffer {
  return Buffer.concat(target.handshake.map((s) => s.bytes));
}

/** Runs one case on a connection of its own and judges what the broker did. */
export async function runCase(target: FuzzTarget, c: FuzzCase, options: WireOptions): Promise<CaseResult> {
  const seeds = c.phase === 'before' && c.payload.kind === 'frames' ? target.handshake : target.seeds;
  const { bytes, frames, hugeOuterLength } = render(c.payload, seeds);
  const problems: string[] = [];
  const raw = await open(options.port);
  try {
    if (c.phase === 'after') {
      raw.socket.write(handshakeBytes(target));
      if (!(await raw.until(() => target.handshakeDone(raw.received()), options.answerMs))) {
        problems.push(raw.brokerClosed ? 'the broker closed a valid handshake' : `no answer to a valid handshake within ${options.answerMs} ms`);
        return { outcome: 'closed', reply: target.read(raw.received()), frames, bytes, problems };
      }
    }
    raw.socket.write(bytes);
    raw.socket.write(target.probe);
    // an error ends the wait too: 0-9-1's connection.close waits for the client's close-ok. A huge
    // length must end in a close, so that case waits as long as an answer may take: a busy broker
    // can be slower than quietMs, and its close would be judged a wait for the rest of the frame
    await raw.until(() => {
      const reply = target.read(raw.received());
      return reply.probeAnswered || reply.errors.length > 0;
    }, hugeOuterLength ? options.answerMs : options.quietMs);
    const closedFirst = raw.brokerClosed;
    if (!closedFirst) {
      raw.socket.end();
      const ended = await raw.until(() => raw.brokerClosed, options.answerMs);
      if (!ended) problems.push(`the broker did not close the connection within ${options.answerMs} ms of the client's end`);
    }
    const reply = target.read(raw.received());
    // an answer to the probe after an error is courtesy (0-9-1 answers a close crossing its own), not a connection that carried on
    const outcome: Outcome = reply.errors.length > 0 ? 'refused' : reply.probeAnswered ? 'accepted' : closedFirst ? 'closed' : 'incomplete';
    if (outcome === 'closed' && target.errorDue(c.phase, bytes)) problems.push('closed without the protocol\'s error');
    if (outcome === 'incomplete' && hugeOuterLength) problems.push('a frame announcing a huge length was not refused from its header');
    return { outcome, reply, frames, bytes, problems };
  } finally {
    raw.socket.destroy();
  }
}
