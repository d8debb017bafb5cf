import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IMessage } from '@stomp/stompjs';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectAmqp } from '../helpers/amqp.js';
import { connect091 } from '../helpers/amqp091.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { spawnBroker } from '../helpers/process.js';
import { connectStomp } from '../helpers/stomp.js';
import { streamUntil } from '../helpers/stream.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

/**
 * A journal on a small file system that it fills (a tmpfs the test mounts): producers of persistent
 * messages are refused in their protocol's terms, consumers drain and acknowledge, the broker stays
 * up, and writing resumes by itself once space is freed.
 */

const DISK = 3 * 1024 * 1024;
const BALLAST = 1024 * 1024;
const BODY = 'x'.repeat(4000);

/** Waits for `done`, looking again after each turn of the timers; fails after `ms`. */
async function until(what: string, done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function journalSettings(dir: string, extra: Record<string, number> = {}): Record<string, string | number> {
  return { data: dir, 'store.journal.segmentSize': 128 * 1024, 'store.journal.minFreeDisk': 0, 'store.journal.compactInterval': 200, ...extra };
}

test('a full disk: producers of every protocol are refused, consumers drain, writing resumes when space returns, nothing acknowledged is lost', async (t) => {
  const tmpfs = mountTmpfs(t, DISK);
  if (tmpfs === undefined) return;
  const dir = tmpfs.dir;
  writeFileSync(join(dir, 'ballast'), Buffer.alloc(BALLAST));
  const logLines: Record<string, unknown>[] = [];
  let broker: TestBroker | undefined = await startBroker(journalSettings(dir), { logLines });
  tmpfs.beforeUnmount(() => broker?.stop());

  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe('/queue/full', { ack: 'client-individual', 'activemq.prefetchSize': '100000' });
  const producer = await connectStomp(broker.stompPort);
  const confirmed = await streamUntil(producer, '/queue/full', 16, () => false, (n) => `${n}:${BODY}`);
  assert.ok(confirmed.size > 50, `${confirmed.size} sends were written before the disk filled`);
  assert.equal(producer.errors[0]?.headers['code'], 'FERRY_STORE_FULL', 'the producer hears why in an ERROR frame');
  assert.ok(logLines.some((l) => l['event'] === 'journal.stalled'), 'the broker logs that writes fail');
  assert.match(String(broker.server.broker.stats().store.refusing), /could not write/);

  // other producers, in their own protocols' terms, while the consumer is still to drain
  const stomp = await connectStomp(broker.stompPort);
  stomp.client.publish({ destination: '/queue/full', body: 'refused', headers: { persistent: 'true', receipt: 'r' } });
  await stomp.closed;
  assert.equal(stomp.errors[0]?.headers['code'], 'FERRY_STORE_FULL');
  const mqtt = await connectMqtt(broker.mqttPort, { protocolVersion: 5 });
  await assert.rejects(mqtt.publish('full/mqtt', 'refused', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x97, 'MQTT 5: PUBACK 0x97 quota exceeded');
  await mqtt.publish('full/mqtt', 'not persistent', { qos: 0 });
  const amqp = await connectAmqp(broker.amqpPort);
  const sender = await amqp.openSender('full.amqp');
  const outcome = await amqp.send(sender, { body: 'refused', durable: true });
  assert.equal(outcome.state, 'rejected');
  assert.equal(outcome.state === 'rejected' ? outcome.error?.condition : undefined, 'amqp:resource-limit-exceeded');

  // the consumer gets every confirmed message and acknowledges it: the broker keeps the deletes in memory
  const seen = new Set<number>();
  const received: IMessage[] = [];
  while ([...confirmed].some((n) => !seen.has(n))) {
    const m = await inbox.next(10_000);
    seen.add(Number(m.headers['seq']));
    received.push(m);
    m.ack();
  }
  assert.ok(broker.server.broker.stats().store.refusing !== null, 'still refusing: nothing was freed yet');

  rmSync(join(dir, 'ballast'));
  await until('writing resumes', () => logLines.some((l) => l['event'] === 'journal.resumed'));
  await until('sends are taken again', () => broker!.server.broker.stats().store.refusing === null);
  await stomp.disconnect().catch(() => undefined);
  const again = await connectStomp(broker.stompPort);
  await again.sendConfirmed('/queue/full', 'after', { persistent: 'true', seq: '0' });
  // the message is behind those whose write failed and which waited for it to go in
  for (;;) {
    const m = await inbox.next(10_000);
    m.ack();
    if (m.body === 'after') break;
  }
  await again.disconnect();
  await consumer.disconnect();
  await mqtt.end();
  await amqp.close();
  assert.ok(!logLines.some((l) => l['level'] === 60), 'no fatal log line');

  // the acknowledgements kept in memory reached the disk: after a restart nothing comes back
  await broker.server.stop();
  broker = await startBroker(journalSettings(dir), {});
  const after = await connectStomp(broker.stompPort);
  await after.subscribe('/queue/full', { ack: 'client-individual' }).expectNothing(500);
  await after.disconnect();
});

test('a broker killed while its disk is full opens its journal cleanly and keeps every confirmed send', async (t) => {
  const tmpfs = mountTmpfs(t, DISK);
  if (tmpfs === undefined) return;
  const dir = tmpfs.dir;
  writeFileSync(join(dir, 'ballast'), Buffer.alloc(BALLAST));
  const config = join(dir, 'ferry.yaml');
  writeFileSync(config, 'store:\n  journal:\n    segmentSize: 131072\n    minFreeDisk: 0\n');
  const args = ['--data', join(dir, 'data'), '--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1'];
  const first = await spawnBroker(args);
  // a failed assertion must not leave the broker running, or the test file never ends
  tmpfs.beforeUnmount(() => first.stop('SIGKILL'));
  const producer = await connectStomp(first.ports['stomp']!);
  const confirmed = await streamUntil(producer, '/queue/killed', 16, () => false, (n) => `${n}:${BODY}`);
  // the broker's log lines reach the test through a pipe, after the producer may have seen its connection close
  await first.logged('journal.stalled', 20_000);
  const refusal = await first.logged('stomp.error', 20_000);
  assert.equal(refusal['code'], 'FERRY_STORE_FULL');
  // under load the client may see the connection end before it has handed over the ERROR frame; when it has, it says the same
  if (producer.errors.length > 0) assert.equal(producer.errors[0]!.headers['code'], 'FERRY_STORE_FULL');
  assert.equal(await first.stop('SIGKILL'), null);

  rmSync(join(dir, 'ballast'));
  const second = await spawnBroker(args);
  tmpfs.beforeUnmount(() => second.stop());
  assert.ok(!second.logs.some((l) => l['level'] === 60 || l['event'] === 'journal.repaired'), 'opened without repair');
  const consumer = await connectStomp(second.ports['stomp']!);
  const inbox = consumer.subscribe('/queue/killed', { ack: 'auto' });
  const seen = new Set<number>();
  while ([...confirmed].some((n) => !seen.has(n))) seen.add(Number((await inbox.next(30_000)).headers['seq']));
  await consumer.disconnect();
});

test('store.journal.minFreeDisk refuses persistent sends before the disk is full, so the journal never fails a write, and takes them again as consumers free space', async (t) => {
  const tmpfs = mountTmpfs(t, DISK);
  if (tmpfs === undefined) return;
  const dir = tmpfs.dir;
  const logLines: Record<string, unknown>[] = [];
  const broker = await startBroker(journalSettings(dir, { 'store.journal.minFreeDisk': 1024 * 1024 }), { logLines });
  tmpfs.beforeUnmount(() => broker.stop());
  const consumer = await connectStomp(broker.stompPort);
  const inbox = consumer.subscribe('/queue/watermark', { ack: 'client-individual', 'activemq.prefetchSize': '100000' });
  const producer = await connectStomp(broker.stompPort);
  const confirmed = await streamUntil(producer, '/queue/watermark', 16, () => false, (n) => `${n}:${BODY}`);
  assert.equal(producer.errors[0]?.headers['code'], 'FERRY_STORE_FULL');
  assert.match(producer.errors[0]?.headers['message'] ?? '', /minFreeDisk/);
  assert.ok(logLines.some((l) => l['event'] === 'journal.space.exhausted'));
  // AMQP 0-9-1 too: a persistent publish is nacked on a confirm channel, and not queued
  const rabbit = await connect091(broker.amqpPort);
  const confirms = await rabbit.createConfirmChannel();
  confirms.publish('', 'watermark', Buffer.from('refused'), { persistent: true, headers: { seq: -2 } });
  await assert.rejects(confirms.waitForConfirms(), 'a basic.nack');
  await rabbit.close();
  // a non-persistent message is not the journal's concern
  const other = await connectStomp(broker.stompPort);
  await other.sendConfirmed('/queue/watermark', 'light', { persistent: 'false', seq: '-1' });

  const seen = new Set<number>();
  while ([...confirmed].some((n) => !seen.has(n))) {
    const m = await inbox.next(10_000);
    seen.add(Number(m.headers['seq']));
    m.ack();
  }
  await until('sends are taken again', () => broker.server.broker.stats().store.refusing === null);
  assert.ok(logLines.some((l) => l['event'] === 'journal.space.available'));
  await other.sendConfirmed('/queue/watermark', 'after', { persistent: 'true', seq: '0' });
  for (;;) {
    const m = await inbox.next(10_000);
    seen.add(Number(m.headers['seq']));
    m.ack();
    if (m.body === 'after') break;
  }
  assert.ok(!seen.has(-2), 'the nacked 0-9-1 publish was not queued');
  assert.ok(!logLines.some((l) => l['event'] === 'journal.stalled'), 'no write ever failed');
  await other.disconnect();
  await consumer.disconnect();
});
