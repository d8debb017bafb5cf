// The kill loop: producers that count a send only once the broker confirmed it (STOMP receipts,
// MQTT QoS 1 PUBACK, AMQP 1.0 accepted outcomes, AMQP 0-9-1 publisher confirms, JMS synchronous
// sends) and consumers that acknowledge (STOMP ACKs with receipts, MQTT PUBACK, AMQP 1.0 accepted,
// 0-9-1 basic.ack, JMS individual acknowledgements), on every protocol at once, while the broker is killed with SIGKILL at a random moment and restarted, again
// and again; then a last run drains what is left. It counts, per protocol: confirmed sends never
// delivered (lost), deliveries after the first that did not say they were redeliveries (unflagged
// duplicates), and messages whose acknowledgement the broker confirmed that came back anyway.
// Exits 1 if any of those is not zero.
//
// --from-catalog starts every broker with `store.loadInBackgroundAbove: 0` and a journal catalog
// every 64 KiB, so that each restart after a kill serves from the catalog and reads the rest of the
// journal while the clients are already at work.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfirmChannel } from 'amqplib';
import { commandLine, positive, UsageError } from './args.js';
import { connectAmqp } from '../test/helpers/amqp.js';
import { connect091 } from '../test/helpers/amqp091.js';
import { connectMqtt } from '../test/helpers/mqtt.js';
import { spawnBroker, type BrokerProcess } from '../test/helpers/process.js';
import { connectStomp } from '../test/helpers/stomp.js';
import { JmsKillLoopClient } from './kill-loop-jms.js';

const USAGE = `usage: node dist/bench/kill-loop.js [--kills 100] [--min-ms 300] [--max-ms 1500] [--seed 1] [--from-catalog]`;

type Protocol = 'stomp' | 'mqtt' | 'amqp' | 'amqp091' | 'openwire';

/** OpenWire's clients run in a JVM of their own, when the JMS client is installed. */
const jms = JmsKillLoopClient.start();
const PROTOCOLS: readonly Protocol[] = typeof jms === 'string' ? ['stomp', 'mqtt', 'amqp', 'amqp091'] : ['stomp', 'mqtt', 'amqp', 'amqp091', 'openwire'];
if (typeof jms === 'string') console.log(`openwire: left out, ${jms}`);

/** What one protocol's clients saw over every run. */
class Ledger {
  sent = 0;
  readonly confirmed = new Set<number>();
  readonly deliveries = new Map<number, number>();
  unflagged = 0;
  /** Acknowledgements the broker confirmed (STOMP ACK receipts): these must never come back. */
  readonly ackConfirmed = new Set<number>();
  ackedThenReturned = 0;
  /** Sends that failed while the broker was up (not counted as confirmed). */
  errors = 0;

  delivered(n: number, redelivered: boolean): void {
    const before = this.deliveries.get(n) ?? 0;
    this.deliveries.set(n, before + 1);
    if (before > 0 && !redelivered) this.unflagged++;
    if (this.ackConfirmed.has(n)) this.ackedThenReturned++;
  }

  get lost(): number {
    let lost = 0;
    for (const n of this.confirmed) if (!this.deliveries.has(n)) lost++;
    return lost;
  }

  get duplicates(): number {
    let d = 0;
    for (const count of this.deliveries.values()) d += count - 1;
    return d;
  }
}

/** One protocol's producer and consumer against one broker run; they stop being useful when it dies. */
interface Clients {
  send(n: number): Promise<void>;
  close(): Promise<void>;
}

const body = (n: number): string => `kill-${n}`;
const parse = (text: string): number => Number(text.slice('kill-'.length));
const QUEUE = 'kill.loop';

async function openClients(protocol: Protocol, ports: Record<string, number>, ledger: Ledger, consume: boolean, produce: boolean): Promise<Clients> {
  const closers: (() => Promise<unknown>)[] = [];
  let send: (n: number) => Promise<void> = () => Promise.reject(new Error('no producer'));
  switch (protocol) {
    case 'stomp': {
      const port = ports['stomp']!;
      if (consume) {
        const c = await connectStomp(port);
        let receipts = 0;
        c.client.subscribe(`/queue/${QUEUE}`, (m) => {
          const n = parse(m.body);
          ledger.delivered(n, m.headers['redelivered'] === 'true');
          const receipt = `ack-${receipts++}`;
          c.client.watchForReceipt(receipt, () => ledger.ackConfirmed.add(n));
          m.ack({ receipt });
        }, { ack: 'client-individual', 'activemq.prefetchSize': '50' });
        closers.push(() => c.disconnect());
      }
      if (produce) {
        const p = await connectStomp(port);
        send = (n) => p.sendConfirmed(`/queue/${QUEUE}`, body(n), { persistent: 'true' });
        closers.push(() => p.disconnect());
      }
      break;
    }
    case 'mqtt': {
      const port = ports['mqtt']!;
      const topic = `kill/loop`;
      if (consume) {
        // a persistent session: what arrives while it is away waits for it, across restarts
        const c = await connectMqtt(port, { protocolVersion: 5, clientId: 'kill-loop-consumer', clean: false, properties: { sessionExpiryInterval: 3600 } });
        c.client.on('message', (_t, payload, packet) => ledger.delivered(parse(payload.toString()), packet.dup));
        if (!c.connack.sessionPresent) await c.subscribe(topic, { qos: 1 });
        closers.push(() => c.end());
      }
      if (produce) {
        const p = await connectMqtt(port, { protocolVersion: 5, clientId: 'kill-loop-producer', clean: true });
        send = (n) => p.publish(topic, body(n), { qos: 1 });
        closers.push(() => p.end());
      }
      break;
    }
    case 'amqp': {
      const port = ports['amqp']!;
      const queue = `${QUEUE}.amqp`;
      if (consume) {
        const c = await connectAmqp(port);
        const { receiver } = await c.openReceiver({ source: queue, autoaccept: true });
        receiver.on('message', (ctx) => ledger.delivered(parse(String(ctx.message?.body)), (ctx.message?.delivery_count ?? 0) > 0));
        closers.push(() => c.close());
      }
      if (produce) {
        const p = await connectAmqp(port);
        const sender = await p.openSender(queue);
        send = async (n) => {
          const outcome = await p.send(sender, { body: body(n), durable: true });
          if (outcome.state !== 'accepted') throw new Error(`not accepted: ${outcome.state}`);
        };
        closers.push(() => p.close());
      }
      break;
    }
    case 'amqp091': {
      const port = ports['amqp']!;
      const queue = `${QUEUE}.091`;
      if (consume) {
        const model = await connect091(port);
        model.on('error', () => {});
        const ch = await model.createChannel();
        ch.on('error', () => {});
        await ch.assertQueue(queue, { durable: true });
        await ch.prefetch(50);
        await ch.consume(queue, (m) => {
          if (m === null) return;
          ledger.delivered(parse(m.content.toString()), m.fields.redelivered);
          ch.ack(m);
        });
        closers.push(() => model.close());
      }
      if (produce) {
        const model = await connect091(port);
        model.on('error', () => {});
        const ch: ConfirmChannel = await model.createConfirmChannel();
        ch.on('error', () => {});
        await ch.assertQueue(queue, { durable: true });
        send = (n) => new Promise<void>((resolve, reject) => ch.sendToQueue(queue, Buffer.from(body(n)), { persistent: true }, (err) => (err === null || err === undefined ? resolve() : reject(new Error('nacked')))));
        closers.push(() => model.close());
      }
      break;
    }
    case 'openwire': {
      const client = jms as JmsKillLoopClient;
      client.onDelivered = (n, redelivered) => ledger.delivered(n, redelivered);
      await client.open(ports['openwire']!, `${QUEUE}.openwire`, consume, produce);
      if (produce) send = (n) => client.send(n);
      closers.push(() => client.close());
      break;
    }
  }
  return {
    send,
    close: async () => {
      for (const close of closers) await Promise.race([close().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
    },
  };
}

/** A small seeded generator, so a run's kill moments can be repeated. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

async function main(): Promise<number> {
  const options = { kills: { type: 'string' }, 'min-ms': { type: 'string' }, 'max-ms': { type: 'string' }, seed: { type: 'string' }, 'from-catalog': { type: 'boolean' } } as const;
  const { kills, minMs, maxMs, seed, startFromCatalog } = commandLine(USAGE, options, (values) => {
    const settings = {
      kills: positive('kills', values.kills, 100, true),
      minMs: positive('min-ms', values['min-ms'], 300, true),
      maxMs: positive('max-ms', values['max-ms'], 1500, true),
      seed: positive('seed', values.seed, 1, true),
      startFromCatalog: values['from-catalog'] === true,
    };
    if (settings.maxMs < settings.minMs) throw new UsageError('--max-ms must be at least --min-ms');
    return settings;
  });
  const next = random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-kill-loop-'));
  const data = join(dir, 'data');
  const config = join(dir, 'ferry.yaml');
  writeFileSync(config, startFromCatalog ? 'store:\n  loadInBackgroundAbove: 0\n  journal:\n    catalogEvery: 65536\n' : '{}\n');
  const start = (): Promise<BrokerProcess> =>
    spawnBroker(['--data', data, '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--openwire-port', '0', '--openwire-host', '127.0.0.1'], {}, 'broker.started');
  const ledgers = new Map(PROTOCOLS.map((p) => [p, new Ledger()]));
  let counter = 0;
  let fromCatalog = 0;
  const served = (broker: BrokerProcess): void => {
    if (broker.logs.some((e) => e['event'] === 'journal.opened-from-catalog')) fromCatalog++;
  };
  const started = Date.now();
  try {
    for (let kill = 1; kill <= kills; kill++) {
      const broker = await start();
      const clients = await Promise.all(PROTOCOLS.map((p) => openClients(p, broker.ports, ledgers.get(p)!, true, true)));
      let alive = true;
      let killing = false;
      const producing = PROTOCOLS.map(async (p, i) => {
        const ledger = ledgers.get(p)!;
        const inFlight = new Set<Promise<void>>();
        while (alive) {
          const n = ++counter;
          ledger.sent++;
          const sent = clients[i]!.send(n).then(
            () => void ledger.confirmed.add(n),
            (err: unknown) => {
              if (!killing && ledger.errors++ === 0) console.log(`${p}: a send failed while the broker was up: ${err instanceof Error ? err.message : String(err)}`);
            },
          );
          inFlight.add(sent);
          void sent.finally(() => inFlight.delete(sent));
          // a turn of the event loop each time: a send that fails at once must not starve the timers
          if (inFlight.size >= 8) await Promise.race([...inFlight, new Promise((r) => setTimeout(r, 200))]);
          else await new Promise((r) => setImmediate(r));
        }
      });
      await new Promise((r) => setTimeout(r, minMs + next() * (maxMs - minMs)));
      killing = true;
      broker.child.kill('SIGKILL');
      await broker.exited;
      served(broker);
      alive = false;
      await Promise.all(producing);
      await Promise.all(clients.map((c) => c.close()));
      if (kill % 10 === 0) console.log(`${kill} kills, ${Math.round((Date.now() - started) / 1000)} s`);
    }
    // the last run: consumers only, until every confirmed message has come or nothing has for 10 s
    const broker = await start();
    const clients = await Promise.all(PROTOCOLS.map((p) => openClients(p, broker.ports, ledgers.get(p)!, true, false)));
    let lastTotal = -1;
    let quietSince = Date.now();
    while (Date.now() - quietSince < 10_000 && PROTOCOLS.some((p) => ledgers.get(p)!.lost > 0)) {
      await new Promise((r) => setTimeout(r, 250));
      const total = PROTOCOLS.reduce((sum, p) => sum + ledgers.get(p)!.deliveries.size, 0);
      if (total !== lastTotal) {
        lastTotal = total;
        quietSince = Date.now();
      }
    }
    await Promise.all(clients.map((c) => c.close()));
    await broker.stop();
  } finally {
    if (typeof jms !== 'string') jms.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`\n${kills} kills with SIGKILL in ${Math.round((Date.now() - started) / 1000)} s; ${fromCatalog} of the ${kills} starts before a kill served from the journal's catalog\n`);
  console.log('protocol  sent     confirmed  delivered  lost  duplicates  unflagged  acked-then-returned');
  let failed = false;
  for (const p of PROTOCOLS) {
    const l = ledgers.get(p)!;
    console.log(`${p.padEnd(8)}  ${String(l.sent).padStart(7)}  ${String(l.confirmed.size).padStart(9)}  ${String(l.deliveries.size).padStart(9)}  ${String(l.lost).padStart(4)}  ${String(l.duplicates).padStart(10)}  ${String(l.unflagged).padStart(9)}  ${String(l.ackedThenReturned).padStart(19)}`);
    if (l.lost > 0 || l.unflagged > 0 || l.ackedThenReturned > 0) failed = true;
  }
  console.log(failed ? '\nFAILED' : '\nnothing confirmed was lost, every duplicate was flagged, nothing acknowledged came back');
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof UsageError ? `kill-loop: ${err.message}` : err);
    process.exit(err instanceof UsageError ? 64 : 1);
  },
);
