// AMQP 1.0 for the load generator. The producer builds its transfer frame once per phase and, per
// message, copies it and patches the fixed-width delivery id and tag and the `seq`/`ts` digits in
// place, as the STOMP driver does with its SEND frame. A scenario that confirms sends sends
// unsettled transfers and counts the broker's accepted dispositions as its receipts; otherwise
// transfers go pre-settled (the counterpart of a STOMP SEND without a receipt). Consumers take
// pre-settled deliveries (the counterpart of `ack:auto`, which no prefetch limits) with a credit
// of 5000, the default window, topped up when a quarter is used: with rhea's default of 1000 the
// consumer waited on its flows' round trips (66,000 msgs/s against 92,000 on the machine this was
// built on) and messages waited in the broker instead of in the window.

import type { ConsumerEvents, ConsumerLink, FailureHandler, Phase, ProducerLink, ProtocolDriver, Target } from './drivers.js';
import type { Scenario } from './scenarios.js';
import { nowUs, stampUs } from './clock.js';
import type { SendSchedule } from './clock.js';
import { AmqpClient, Performative, WINDOW, amqpFrame, applicationProperties, described, terminus, type ReceivedFrame } from './amqp-client.js';

const SEQ_DIGITS = 10;
const TS_DIGITS = 16;
const SEQ_MARK = '#'.repeat(SEQ_DIGITS);
const TS_MARK = '@'.repeat(TS_DIGITS);
const ID_MARK = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
/** Frames per write when nothing else limits the batch: about 64 KiB. */
const BATCH_BYTES = 64 * 1024;
/** The runner's default --window: more credit than messages in flight is never used. */
const CONSUMER_CREDIT = 5000;
const HANDLE = 0;

function amqpAddress(scenario: Scenario, target: Target): string {
  return scenario.kind === 'topic' ? `topic://${target.destination}` : target.destination;
}

function writeDigits(out: Buffer, at: number, width: number, value: number): void {
  for (let i = at + width - 1; i >= at; i--) {
    out[i] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
}

function offsetOf(frame: Buffer, mark: string | Buffer): number {
  const at = frame.indexOf(mark);
  if (at < 0 || frame.indexOf(mark, at + 1) >= 0) throw new Error('the transfer template lost a placeholder');
  return at;
}

interface Template {
  frame: Buffer;
  idAt: number;
  tagAt: number;
  seqAt: number;
  tsAt: number;
}

function template(scenario: Scenario, index: number, phase: Phase): Template {
  const settled = !scenario.confirmSends;
  // transfer: handle, delivery-id (uint, 4 bytes), delivery-tag (binary, 4 bytes), message-format, settled
  const transfer = Buffer.concat([
    Buffer.from([0x00, 0x53, Performative.transfer, 0xc0, 0, 5]),
    Buffer.from([0x43]),
    Buffer.from([0x70]),
    ID_MARK,
    Buffer.from([0xa0, 4]),
    Buffer.from([0xca, 0xfe, 0xba, 0xbe]),
    Buffer.from([0x43, settled ? 0x41 : 0x42]),
  ]);
  transfer[4] = transfer.length - 5;
  const properties: [string, string][] = [
    ['producer', String(index)],
    ['phase', phase === 'warmup' ? 'w' : 'm'],
    ['seq', SEQ_MARK],
    ['ts', TS_MARK],
    ...((scenario.sendHeaders ?? []) as [string, string][]),
  ];
  const sections = [
    Buffer.from([0x00, 0x53, 0x70, 0xc0, 2, 1, scenario.persistent ? 0x41 : 0x42]),
    (() => {
      const parts: Buffer[] = [];
      for (const [k, v] of properties) {
        for (const s of [k, v]) {
          const b = Buffer.from(s, 'utf8');
          parts.push(Buffer.from([0xa1, b.length]), b);
        }
      }
      const body = Buffer.concat(parts);
      return Buffer.concat([Buffer.from([0x00, 0x53, 0x74, 0xd1]), u32(body.length + 4), u32(properties.length * 2), body]);
    })(),
    Buffer.concat([Buffer.from([0x00, 0x53, 0x75, 0xb0]), u32(scenario.bodyBytes), Buffer.alloc(scenario.bodyBytes, 'x')]),
  ];
  const frame = amqpFrame(transfer, Buffer.concat(sections));
  return {
    frame,
    idAt: offsetOf(frame, ID_MARK),
    tagAt: offsetOf(frame, Buffer.from([0xca, 0xfe, 0xba, 0xbe])),
    seqAt: offsetOf(frame, SEQ_MARK),
    tsAt: offsetOf(frame, TS_MARK),
  };
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

class AmqpProducer implements ProducerLink {
  readonly batchSize: number;
  unconfirmed = 0;
  private readonly templates: Record<Phase, Template>;
  private deliveryCount = 0;
  private credit = 0;
  /** Frames written to a buffer but waiting for link credit, in order. */
  private queued: Buffer[] = [];
  private readonly frameSize: number;
  private confirmWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private readonly confirm: boolean;

  constructor(
    private readonly client: AmqpClient,
    scenario: Scenario,
    index: number,
  ) {
    this.confirm = scenario.confirmSends;
    this.templates = { warmup: template(scenario, index, 'warmup'), measure: template(scenario, index, 'measure') };
    this.frameSize = this.templates.measure.frame.length;
    this.batchSize = Math.max(1, Math.floor(BATCH_BYTES / this.frameSize));
    client.onFrame = (frame) => this.frame(frame);
  }

  flow(frame: ReceivedFrame): void {
    if (frame.fields[4] !== HANDLE) return;
    const deliveryCount = Number(frame.fields[5] ?? 0);
    const linkCredit = Number(frame.fields[6] ?? 0);
    this.credit = deliveryCount + linkCredit - this.deliveryCount;
    this.flush();
  }

  private frame(frame: ReceivedFrame): void {
    if (frame.code === Performative.flow) this.flow(frame);
    else if (frame.code === Performative.disposition && frame.fields[0] === true && frame.fields[3] === true) {
      const first = Number(frame.fields[1]);
      const last = frame.fields[2] === null || frame.fields[2] === undefined ? first : Number(frame.fields[2]);
      this.unconfirmed -= last - first + 1;
      const waiters = this.confirmWaiters;
      this.confirmWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  send(firstSeq: number, count: number, phase: Phase, schedule?: SendSchedule): boolean {
    const { frame, idAt, tagAt, seqAt, tsAt } = this.templates[phase];
    const size = frame.length;
    const out = Buffer.allocUnsafe(size * count);
    const ts = nowUs();
    const firstId = this.deliveryCount + this.queuedFrames();
    for (let i = 0; i < count; i++) {
      const base = i * size;
      frame.copy(out, base);
      out.writeUInt32BE((firstId + i) >>> 0, base + idAt);
      out.writeUInt32BE((firstId + i) >>> 0, base + tagAt);
      writeDigits(out, base + seqAt, SEQ_DIGITS, firstSeq + i);
      writeDigits(out, base + tsAt, TS_DIGITS, stampUs(schedule, ts, i));
    }
    if (this.confirm) this.unconfirmed += count;
    this.queued.push(out);
    return this.flush();
  }

  private queuedFrames(): number {
    let n = 0;
    for (const b of this.queued) n += b.length / this.frameSize;
    return n;
  }

  /** Writes what link credit allows; true when nothing waits and the socket takes more. */
  private flush(): boolean {
    let writable = true;
    while (this.queued.length > 0 && this.credit > 0) {
      const head = this.queued[0]!;
      const frames = head.length / this.frameSize;
      const take = Math.min(frames, this.credit);
      const chunk = take === frames ? head : head.subarray(0, take * this.frameSize);
      if (take === frames) this.queued.shift();
      else this.queued[0] = head.subarray(take * this.frameSize);
      this.credit -= take;
      this.deliveryCount += take;
      writable = this.client.write(chunk);
    }
    const done = this.queued.length === 0 && writable;
    if (done && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const wake of waiters) wake();
    }
    return done;
  }

  async drained(): Promise<void> {
    while (this.queued.length > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    await this.client.drained();
  }

  confirmed(): Promise<void> {
    return new Promise((resolve) => this.confirmWaiters.push(resolve));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

function property(props: Map<string, unknown> | undefined, name: string): number {
  const value = props?.get(name);
  return typeof value === 'string' ? Number(value) : Number.NaN;
}

export const amqpDriver: ProtocolDriver = {
  async openProducer(target, scenario, index, onFailure: FailureHandler): Promise<ProducerLink> {
    const client = await AmqpClient.connect(target.host, target.port);
    client.onFailure = onFailure;
    const attached = client.next(Performative.attach);
    const firstFlow = client.next(Performative.flow);
    client.write(
      amqpFrame(
        described(Performative.attach, [
          `bench-producer-${index}`,
          HANDLE,
          false,
          { uint: scenario.confirmSends ? 0 : 1 },
          { uint: 0 },
          terminus(0x28, null),
          terminus(0x29, amqpAddress(scenario, target)),
          null,
          null,
          0,
        ]),
      ),
    );
    await attached;
    const producer = new AmqpProducer(client, scenario, index);
    producer.flow(await firstFlow);
    return producer;
  },

  async openConsumer(target, scenario, index, events: ConsumerEvents, onFailure: FailureHandler): Promise<ConsumerLink> {
    const client = await AmqpClient.connect(target.host, target.port);
    client.onFailure = onFailure;
    let received = 0;
    let transfers = 0;
    let credit = CONSUMER_CREDIT;
    const flow = (): Buffer =>
      amqpFrame(described(Performative.flow, [{ uint: client.remoteNextOutgoing + transfers }, { uint: WINDOW }, 0, { uint: WINDOW }, HANDLE, { uint: received }, { uint: CONSUMER_CREDIT }]));
    client.onFrame = (frame, recvUs) => {
      if (frame.code !== Performative.transfer) return;
      transfers++;
      // a transfer continued in further frames is not expected at these sizes; counted when complete
      if (frame.fields[5] === true || frame.payload === undefined) return;
      received++;
      if (--credit <= (CONSUMER_CREDIT * 3) / 4) {
        credit = CONSUMER_CREDIT;
        client.write(flow());
      }
      const props = applicationProperties(frame.payload);
      const phase: Phase = props?.get('phase') === 'w' ? 'warmup' : 'measure';
      events.message(property(props, 'producer'), property(props, 'seq'), property(props, 'ts'), phase, recvUs);
    };
    client.onChunkEnd = () => events.readEnd();
    const attached = client.next(Performative.attach);
    // a receiver that asks for settled deliveries: the broker acknowledges as it sends (ack:auto)
    client.write(
      Buffer.concat([
        amqpFrame(described(Performative.attach, [`bench-consumer-${index}`, HANDLE, true, { uint: 1 }, { uint: 0 }, terminus(0x28, amqpAddress(scenario, target)), terminus(0x29, null)])),
        flow(),
      ]),
    );
    const answer = await attached;
    // the broker subscribes before it answers the attach, so a topic subscriber misses nothing after this
    if (answer.fields[5] === null || answer.fields[5] === undefined) throw new Error(`the broker refused to attach to ${amqpAddress(scenario, target)}`);
    return client;
  },
};
