import type { LengthField, Seed } from './mutate.js';
import type { FuzzTarget, Reply } from './target.js';

/** A STOMP frame as bytes, with the offset of its content-length value when it has one. */
export function stompFrame(command: string, headers: readonly (readonly [string, string])[], body = ''): Seed {
  const head = `${command}\n${headers.map(([k, v]) => `${k}:${v}`).join('\n')}${headers.length > 0 ? '\n' : ''}`;
  const bytes = Buffer.concat([Buffer.from(`${head}\n`, 'utf8'), Buffer.from(body, 'utf8'), Buffer.from([0])]);
  const lengths: LengthField[] = [];
  const at = head.indexOf('content-length:');
  if (at >= 0) lengths.push({ at: Buffer.byteLength(head.slice(0, at + 'content-length:'.length)), kind: 'decimal', outer: true });
  return { name: command, bytes, lengths };
}

const Q = '/queue/fuzz.stomp';

/** Frames for after CONNECT: every client command, escapes, transactions, a selector, a body with a NUL. */
export const stompSeeds: readonly Seed[] = [
  stompFrame('SEND', [['destination', Q], ['content-length', '5'], ['persistent', 'true'], ['receipt', 'r1']], 'he\0lo'),
  stompFrame('SEND', [['destination', Q], ['content-type', 'text/plain'], ['x-escaped', 'a\\cb\\nc\\\\d'], ['priority', '7'], ['expires', '0']], 'body'),
  stompFrame('SEND', [['destination', '/topic/fuzz.stomp'], ['AMQ_SCHEDULED_DELAY', '5'], ['JMSXGroupID', 'g']], 'later'),
  stompFrame('SUBSCRIBE', [['id', '1'], ['destination', Q], ['ack', 'client-individual'], ['activemq.prefetchSize', '10']]),
  stompFrame('SUBSCRIBE', [['id', '2'], ['destination', '/topic/fuzz.>'], ['selector', "colour = 'red' AND weight > 5"]]),
  stompFrame('SUBSCRIBE', [['id', '3'], ['destination', '/topic/fuzz.durable'], ['activemq.subscriptionName', 'sub'], ['ack', 'client']]),
  stompFrame('ACK', [['id', '1-1'], ['receipt', 'r2']]),
  stompFrame('NACK', [['id', '1-2']]),
  stompFrame('UNSUBSCRIBE', [['id', '1']]),
  stompFrame('BEGIN', [['transaction', 'tx1']]),
  stompFrame('SEND', [['destination', Q], ['transaction', 'tx1'], ['content-length', '2']], 'tx'),
  stompFrame('COMMIT', [['transaction', 'tx1'], ['receipt', 'r3']]),
  stompFrame('ABORT', [['transaction', 'tx1']]),
  { name: 'heart-beat', bytes: Buffer.from('\r\n\n') },
];

export const stompConnect: Seed = stompFrame('CONNECT', [['accept-version', '1.0,1.1,1.2'], ['host', 'localhost'], ['heart-beat', '0,0']]);

export const STOMP_PROBE = Buffer.from('DISCONNECT\nreceipt:fuzz-probe\n\n\0');

/**
 * The commands and chosen headers of the frames in `bytes` (a server's output), skipping bodies by
 * content-length where given.
 */
export function readStompFrames(bytes: Buffer): { command: string; headers: Map<string, string> }[] {
  const frames: { command: string; headers: Map<string, string> }[] = [];
  let at = 0;
  while (at < bytes.length) {
    while (at < bytes.length && (bytes[at] === 0x0a || bytes[at] === 0x0d)) at++;
    const headEnd = bytes.indexOf('\n\n', at);
    if (headEnd < 0) break;
    const lines = bytes.toString('utf8', at, headEnd).split('\n');
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0 && !headers.has(line.slice(0, colon))) headers.set(line.slice(0, colon), line.slice(colon + 1));
    }
    const length = headers.get('content-length');
    const bodyStart = headEnd + 2;
    const end = length !== undefined ? bodyStart + Number(length) : bytes.indexOf(0, bodyStart);
    if (end < 0 || end >= bytes.length) break;
    frames.push({ command: lines[0]!.replace(/\r$/, ''), headers });
    at = end + 1;
  }
  return frames;
}

export function readStomp(received: Buffer): Reply {
  const frames = readStompFrames(received);
  return {
    errors: frames.filter((f) => f.command === 'ERROR').map((f) => `ERROR ${f.headers.get('code') ?? (f.headers.has('version') ? 'version' : '(no code)')}`),
    probeAnswered: frames.some((f) => f.command === 'RECEIPT' && f.headers.get('receipt-id') === 'fuzz-probe'),
  };
}

/** STOMP's answer to any bad frame is an ERROR frame; only a DISCONNECT ends a connection without one. */
export function stompErrorDue(sent: Buffer): boolean {
  return !sent.includes('DISCONNECT');
}

export const stompTarget: FuzzTarget = {
  name: 'stomp',
  listener: 'stomp',
  handshake: [stompConnect],
  seeds: stompSeeds,
  handshakeDone: (received) => readStompFrames(received).some((f) => f.command === 'CONNECTED'),
  probe: STOMP_PROBE,
  read: readStomp,
  errorDue: (_phase, sent) => stompErrorDue(sent),
};
