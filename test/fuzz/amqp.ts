import { AMQP_HEADER, SASL_HEADER, encodeMessage, frame, frames, terminus } from '../helpers/amqp.js';
import type { Seed } from './mutate.js';
import type { FuzzTarget, Reply } from './target.js';

/** An AMQP 1.0 frame: its size (the whole frame) and data offset (in words) are lengths a decoder trusts. */
function amqp(name: string, bytes: Buffer): Seed {
  return { name, bytes, lengths: [{ at: 0, kind: 'uint', width: 4, outer: true }, { at: 4, kind: 'uint', width: 1 }] };
}

const Q = 'fuzz.amqp';

function transfer(handle: number, id: number, body: string, settled: boolean, more = false): Buffer {
  return frame(frames.transfer({ handle, delivery_id: id, delivery_tag: Buffer.from(String(id)), message_format: 0, settled, more }), encodeMessage({ body, durable: true, application_properties: { k: 1 } }));
}

const seeds: Seed[] = [
  amqp('attach sender', frame(frames.attach({ name: 'to-fuzz', handle: 0, role: false, target: terminus.target({ address: Q }).described(), initial_delivery_count: 0 }))),
  amqp('transfer', transfer(0, 0, 'hello', false)),
  amqp('transfer settled', transfer(0, 1, 'settled', true)),
  amqp('transfer first part', transfer(0, 2, 'part one', false, true)),
  amqp('transfer last part', frame(frames.transfer({ handle: 0, more: false }), Buffer.from([0x00, 0x53, 0x77, 0xa1, 0x01, 0x78]))),
  amqp('attach receiver', frame(frames.attach({ name: 'from-fuzz', handle: 1, role: true, source: terminus.source({ address: Q }).described(), snd_settle_mode: 0, rcv_settle_mode: 0 }))),
  amqp('attach receiver with selector', frame(frames.attach({ name: 'sel', handle: 2, role: true, source: terminus.source({ address: 'fuzz.amqp.topic', filter: { 'jms-selector': "a = 'b'" }, capabilities: ['topic'] }).described() }))),
  amqp('attach dynamic', frame(frames.attach({ name: 'dyn', handle: 3, role: true, source: terminus.source({ dynamic: true }).described() }))),
  amqp('flow link', frame(frames.flow({ next_incoming_id: 0, incoming_window: 100, next_outgoing_id: 0, outgoing_window: 100, handle: 1, delivery_count: 0, link_credit: 10, echo: true }))),
  amqp('flow session', frame(frames.flow({ next_incoming_id: 0, incoming_window: 100, next_outgoing_id: 0, outgoing_window: 100 }))),
  amqp('disposition accepted', frame(frames.disposition({ role: true, first: 0, last: 3, settled: true }))),
  amqp('detach', frame(frames.detach({ handle: 0, closed: true }))),
  amqp('end', frame(frames.end({}))),
  amqp('begin channel 1', frames.write_frame(frames.amqp_frame(1, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })))),
  amqp('empty frame', Buffer.from([0, 0, 0, 8, 2, 0, 0, 0])),
];

const open = amqp('open', frame(frames.open({ container_id: 'fuzz', max_frame_size: 65536, channel_max: 7, idle_time_out: 0 })));
const begin = amqp('begin', frame(frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })));
const header: Seed = { name: 'AMQP header', bytes: AMQP_HEADER };
const saslHeader: Seed = { name: 'SASL header', bytes: SASL_HEADER };
const saslInit = amqp('sasl-init', frames.write_frame(frames.sasl_frame(frames.sasl_init({ mechanism: 'PLAIN', initial_response: Buffer.from('\0guest\0guest') }))));

/** What a performative's frame says, read by rhea's codec. */
interface ReadPerformative {
  readonly name: string;
  readonly fields: Record<string, unknown>;
}

/**
 * The headers and performatives of a stream from the AMQP port: protocol headers (SASL, AMQP 1.0,
 * or 0-9-1's) and AMQP 1.0 frames between them.
 */
export function readAmqpStream(bytes: Buffer): { headers: string[]; performatives: ReadPerformative[] } {
  const headers: string[] = [];
  const performatives: ReadPerformative[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    if (bytes.toString('latin1', at, at + 4) === 'AMQP') {
      headers.push([...bytes.subarray(at + 4, at + 8)].join('.'));
      at += 8;
      continue;
    }
    const size = bytes.readUInt32BE(at);
    if (size < 8 || at + size > bytes.length) break;
    try {
      const f = frames.read_frame(bytes.subarray(at, at + size));
      if (f?.performative !== undefined) performatives.push({ name: String(f.performative.constructor).split('#')[0]!, fields: f.performative });
    } catch {
      performatives.push({ name: 'unreadable', fields: {} });
    }
    at += size;
  }
  return { headers, performatives };
}

function condition(error: unknown): string {
  const e = error as { condition?: unknown; value?: { value?: unknown }[] } | null | undefined;
  return String(e?.condition ?? e?.value?.[0]?.value ?? '(no condition)');
}

/**
 * A close with an error, a refused SASL outcome, or a protocol header that was all the broker
 * said (its answer to a header it does not speak) are the errors; a close without one answers the probe.
 */
export function readAmqp(received: Buffer): Reply {
  const { headers, performatives } = readAmqpStream(received);
  const errors: string[] = [];
  let probeAnswered = false;
  for (const p of performatives) {
    if (p.name === 'close') {
      if (p.fields['error'] === undefined || p.fields['error'] === null) probeAnswered = true;
      else errors.push(`close ${condition(p.fields['error'])}`);
    }
    if (p.name === 'sasl_outcome' && p.fields['code'] !== 0) errors.push(`sasl-outcome ${String(p.fields['code'])}`);
  }
  if (performatives.length === 0 && headers.length > 0) errors.push(`header ${headers[headers.length - 1]}`);
  return { errors, probeAnswered };
}

const PROBE = frame(frames.close({}));

export const amqpTarget: FuzzTarget = {
  name: 'amqp',
  listener: 'amqp',
  handshake: [header, open, begin],
  seeds,
  handshakeDone: (received) => readAmqpStream(received).performatives.some((p) => p.name === 'begin'),
  probe: PROBE,
  read: readAmqp,
  // once both sides have sent their headers, a close frame says why ([AMQP 2.4.2]); a header the
  // broker does not speak gets its own header back ([AMQP 2.2]), which `read` counts
  errorDue: () => true,
};

export const amqpSaslTarget: FuzzTarget = {
  name: 'amqp-sasl',
  listener: 'amqp',
  handshake: [saslHeader, saslInit, header, open, begin],
  seeds,
  handshakeDone: amqpTarget.handshakeDone,
  probe: PROBE,
  read: readAmqp,
  // a SASL layer that breaks ends the socket: it has no frame for an error other than the outcome,
  // which is for the authentication's result ([AMQP 5.3.3.6])
  errorDue: (phase) => phase === 'after',
};
