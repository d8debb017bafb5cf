import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectAmqp, rhea, type AmqpTestClient } from '../helpers/amqp.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { openwireJavaMissing, runDriver, type DriverLine } from '../helpers/openwire-java.js';
import { runFerry, type Finished } from '../helpers/process.js';
import { RawStompClient, uniqueName } from '../helpers/raw-stomp.js';

// ferry export and import: a queue's messages to JSON lines and back into another queue, with
// bodies (text and binary) and typed properties as real clients sent and receive them.

interface Line {
  id: string;
  timestamp: number;
  deliveryCount: number;
  originalDestination: string | null;
  properties: { name: string; type: string; value: unknown }[];
  body: { encoding: string; kind?: string; data: string };
  [key: string]: unknown;
}

let broker: TestBroker;
let url: string;
let amqp: AmqpTestClient;
before(async () => {
  broker = await startBroker();
  url = `http://127.0.0.1:${broker.server.ports['http']}`;
  amqp = await connectAmqp(broker.amqpPort);
});
after(async () => {
  await amqp.close();
  await broker.stop();
});

const ferry = (args: string[], options: Parameters<typeof runFerry>[1] = {}): Promise<Finished> => runFerry([...args, '--url', url], options);
const lines = (text: string): Line[] => text.trim().split('\n').map((l) => JSON.parse(l) as Line);
/** What the broker gives anew to each message it takes in: the rest must survive the round trip. */
const sendable = ({ id: _id, timestamp: _t, deliveryCount: _d, originalDestination: _o, ...rest }: Line): Record<string, unknown> => ({
  ...rest,
  properties: [...rest.properties].sort((a, b) => a.name.localeCompare(b.name)),
});

const binary = Buffer.from([...Array(256).keys()].map((i) => (i * 7) % 256));
const typed = { count: 7, ratio: 1.5, flag: true, label: 'x y' };

async function depth(queue: string): Promise<number | undefined> {
  const run = await ferry(['dstat', '--filter', queue, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return (JSON.parse(run.stdout) as { items: { name: string; depth: number }[] }).items.find((d) => d.name === queue)?.depth;
}

test('export then import into another queue keeps text and binary bodies and typed properties', async () => {
  const source = uniqueName('export.source');
  const target = uniqueName('import.target');
  const sender = await amqp.openSender(source);
  const outcome = await amqp.send(sender, { body: rhea.message.data_section(binary), application_properties: typed, durable: true, priority: 6, correlation_id: 'corr-1' });
  assert.equal(outcome.state, 'accepted');
  const { raw } = await RawStompClient.connected(broker.stompPort);
  const text = 'héllo\nworld {"a": 1}';
  try {
    await raw.sendWithReceipt('SEND', { destination: `/queue/${source}`, persistent: 'true', region: 'eu', type: 'greeting' }, text);
  } finally {
    raw.destroy();
  }

  const file = join(mkdtempSync(join(tmpdir(), 'ferry-export-')), 'messages.jsonl');
  const exported = await ferry(['export', source, file]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stderr, new RegExp(`exported 2 messages from ${source.replaceAll('.', '\\.')} to `));
  const written = lines(readFileSync(file, 'utf8'));
  assert.equal(written.length, 2);
  const [bytesLine, textLine] = written as [Line, Line];
  assert.equal(bytesLine.body.encoding, 'base64');
  assert.deepEqual(Buffer.from(bytesLine.body.data, 'base64'), binary);
  assert.deepEqual(Object.fromEntries(bytesLine.properties.map((p) => [p.name, p.value])), typed);
  assert.equal(bytesLine.properties.find((p) => p.name === 'flag')?.type, 'boolean');
  assert.equal(bytesLine.properties.find((p) => p.name === 'label')?.type, 'string');
  assert.deepEqual(textLine.body, { encoding: 'text', kind: 'text', data: text });
  assert.equal(await depth(source), 2, 'export consumes nothing');
  const eu = await ferry(['export', source, '--selector', "region = 'eu'"]);
  assert.equal(eu.code, 0, eu.stderr);
  assert.deepEqual(lines(eu.stdout).map((l) => l.body.data), [text]);

  const imported = await ferry(['import', target, file]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stderr, /imported 2 messages into queue:\/\//);
  const again = await ferry(['export', target]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(lines(again.stdout).map(sendable), written.map(sendable));

  // a real client receives the imported messages as they were first sent
  const { receiver, inbox } = await amqp.openReceiver({ source: { address: target }, credit_window: 10 });
  try {
    const first = await inbox.next();
    const second = await inbox.next();
    const body = first.message.body as { content?: Buffer };
    assert.deepEqual(body.content, binary);
    assert.deepEqual(first.message.application_properties, typed);
    assert.equal(first.message.priority, 6);
    assert.equal(first.message.correlation_id, 'corr-1');
    assert.equal(second.message.body, text);
    assert.equal(second.message.application_properties?.['region'], 'eu');
  } finally {
    receiver.close();
  }
});

test('import reads standard input and names the line it cannot use; a file that cannot be read or written is named', async () => {
  const target = uniqueName('import.stdin');
  const good = JSON.stringify({ body: { encoding: 'text', data: 'from stdin' }, persistent: true, priority: 4, properties: [{ name: 'n', type: 'int', value: 3 }] });
  const stale = JSON.stringify({ body: { encoding: 'text', data: 'stale' }, expiration: 1 });
  const fine = await ferry(['import', `queue://${target}`], { input: `${good}\n\n${stale}\n${good}\n` });
  assert.equal(fine.code, 0, fine.stderr);
  assert.match(fine.stderr, /imported 2 messages into queue:\/\/\S+; skipped 1 already expired/);
  assert.equal(await depth(target), 2);

  const grouped = JSON.stringify({ body: { encoding: 'base64', data: 'AAEC' }, groupId: 'g-1', properties: [{ name: 'cleared', type: 'null', value: null }] });
  const more = await ferry(['import', target], { input: `${grouped}\n` });
  assert.equal(more.code, 0, more.stderr);
  const last = (await ferry(['export', target])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Line & { groupId: string | null })[2]!;
  assert.deepEqual([last.groupId, last.properties, last.body], ['g-1', [{ name: 'cleared', type: 'null', value: null }], { encoding: 'base64', kind: 'bytes', data: 'AAEC' }]);

  const unwritable = await ferry(['export', target, join(tmpdir(), 'no-such-folder-for-ferry', 'x.jsonl')]);
  assert.equal(unwritable.code, 1);
  assert.match(unwritable.stderr, /^ferry: FERRY_CLI_USAGE: cannot write .*no-such-folder-for-ferry/);
  const unreadable = await ferry(['import', target, join(tmpdir(), 'no-such-folder-for-ferry', 'x.jsonl')]);
  assert.equal(unreadable.code, 1);
  assert.match(unreadable.stderr, /^ferry: FERRY_CLI_USAGE: cannot read .*no-such-folder-for-ferry/);

  const later = await ferry(['import', target], { input: `${JSON.stringify({ version: 3, body: { encoding: 'text', data: 'x' } })}\n` });
  assert.equal(later.code, 1);
  assert.match(later.stderr, /FERRY_CLI_USAGE: standard input line 1: a line of version 3, which a later ferry wrote/);

  const bad = await ferry(['import', target], { input: `${good}\n{"body": 3}\n` });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^imported 1 message into queue:\/\/\S+ from the lines before line 2, and stopped there:\nferry: FERRY_CLI_USAGE: standard input line 2: "body" must be/);
  const notJson = await ferry(['import', target], { input: `${good}\n\n${good}\nnot json\n${good}\n` });
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /^imported 2 messages into queue:\/\/\S+ from the lines before line 4, and stopped there:\nferry: FERRY_CLI_USAGE: standard input line 4: not JSON/);
  assert.equal(await depth(target), 6, 'the lines before the bad ones were sent');
});

test('export walks a queue deeper than one page, in order, each message once', async () => {
  const source = uniqueName('export.deep');
  const { raw } = await RawStompClient.connected(broker.stompPort);
  const count = 1_234;
  try {
    for (let i = 0; i < count; i++) await raw.send('SEND', { destination: `/queue/${source}`, n: String(i) }, `m${i}`);
    await raw.sendWithReceipt('SEND', { destination: `/queue/${source}`, n: String(count) }, `m${count}`);
  } finally {
    raw.destroy();
  }
  const exported = await ferry(['export', source]);
  assert.equal(exported.code, 0, exported.stderr);
  const bodies = lines(exported.stdout).map((l) => l.body.data);
  assert.deepEqual(bodies, Array.from({ length: count + 1 }, (_, i) => `m${i}`));
});

test('a deeply nested JSON text body is shown, browsed and exported as its text, with the rest of its queue', async () => {
  const source = uniqueName('export.nested');
  const levels = 5_000;
  const nested = `${'['.repeat(levels)}${']'.repeat(levels)}`;
  const { raw } = await RawStompClient.connected(broker.stompPort);
  try {
    await raw.send('SEND', { destination: `/queue/${source}` }, '{"before": 1}');
    await raw.send('SEND', { destination: `/queue/${source}` }, nested);
    await raw.sendWithReceipt('SEND', { destination: `/queue/${source}` }, '{"after": [1, [2]]}');
  } finally {
    raw.destroy();
  }
  const exported = await ferry(['export', source]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(lines(exported.stdout).map((l) => l.body), [
    { encoding: 'text', kind: 'text', data: '{"before": 1}' },
    { encoding: 'text', kind: 'text', data: nested },
    { encoding: 'text', kind: 'text', data: '{"after": [1, [2]]}' },
  ]);

  const browsed = await ferry(['browse', source, '--body', '--json']);
  assert.equal(browsed.code, 0, browsed.stderr);
  const bodies = (JSON.parse(browsed.stdout) as { items: { body: { data: string; json?: unknown } }[] }).items.map((m) => m.body);
  // JSON of a modest depth is still given parsed; the deep one is its text alone
  assert.deepEqual(bodies, [
    { encoding: 'text', data: '{"before": 1}', json: { before: 1 } },
    { encoding: 'text', data: nested },
    { encoding: 'text', data: '{"after": [1, [2]]}', json: { after: [1, [2]] } },
  ]);
  const page = await fetch(`${url}/api/v1/queues/${encodeURIComponent(source)}/messages?full=true`);
  assert.equal(page.status, 200);
  assert.equal(((await page.json()) as { items: unknown[] }).items.length, 3);
});

test('export of a queue that a consumer takes from between its pages misses none of the messages still waiting', async () => {
  const source = uniqueName('export.live');
  const count = 1_234;
  const { raw: producer } = await RawStompClient.connected(broker.stompPort);
  try {
    for (let i = 0; i < count - 1; i++) await producer.send('SEND', { destination: `/queue/${source}` }, `m${i}`);
    await producer.sendWithReceipt('SEND', { destination: `/queue/${source}` }, `m${count - 1}`);
  } finally {
    producer.destroy();
  }
  // the export's requests go through this proxy, which has a consumer take and acknowledge 100
  // messages from the head each time a page has been read, before the export sees the page
  const { raw: consumer } = await RawStompClient.connected(broker.stompPort);
  let batches = 0;
  const takeHundred = async (): Promise<void> => {
    const id = `batch-${++batches}`;
    await consumer.send('SUBSCRIBE', { id, destination: `/queue/${source}`, ack: 'client-individual', 'activemq.prefetchSize': '1' });
    for (let i = 0; i < 100; i++) {
      const message = await consumer.nextFrameOf('MESSAGE');
      await consumer.send('ACK', { id: message.headers.get('ack')! });
    }
    // the one dispatched after the last acknowledgement goes back to its place
    await consumer.send('UNSUBSCRIBE', { id, receipt: id });
    for (;;) {
      const frame = await consumer.nextFrame();
      if (frame.command === 'RECEIPT' && frame.headers.get('receipt-id') === id) break;
    }
  };
  const proxy = createServer((req, res) => {
    void (async () => {
      const upstream = await fetch(`${url}${req.url ?? '/'}`, { method: req.method ?? 'GET' });
      const body = Buffer.from(await upstream.arrayBuffer());
      if (upstream.status === 200 && /^\/api\/v1\/queues\/[^/]+\/messages\?/.test(req.url ?? '')) await takeHundred();
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(body);
    })().catch((err: unknown) => {
      res.writeHead(502);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const exported = await runFerry(['export', source, '--url', `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(batches, 3, 'three pages of at most 500, each followed by a batch of consumption');
    // each message was waiting when the page that holds it was read: every one is there, once, in order
    assert.deepEqual(
      lines(exported.stdout).map((l) => l.body.data),
      Array.from({ length: count }, (_, i) => `m${i}`),
    );
    assert.equal(await depth(source), count - 300);
  } finally {
    consumer.destroy();
    proxy.close();
  }
});

test('a page of whole messages stops at 8 MiB of bodies, so an export of large messages goes page by page', async () => {
  const source = uniqueName('export.large');
  const MiB = 1024 * 1024;
  const count = 20;
  const bodyOf = (i: number): string => `${String(i).padStart(4, '0')}${'x'.repeat(MiB - 4)}`;
  const { raw } = await RawStompClient.connected(broker.stompPort);
  try {
    for (let i = 0; i < count; i++) await raw.sendWithReceipt('SEND', { destination: `/queue/${source}`, persistent: 'true' }, bodyOf(i));
  } finally {
    raw.destroy();
  }
  const page = await fetch(`${url}/api/v1/queues/${encodeURIComponent(source)}/messages?full=true&limit=500`);
  assert.equal(page.status, 200);
  const first = (await page.json()) as { items: { body: { data: string } }[]; more: boolean; next: string | null };
  assert.deepEqual([first.items.length, first.more], [8, true]);
  assert.deepEqual(first.items.map((m) => m.body.data.slice(0, 4)), ['0000', '0001', '0002', '0003', '0004', '0005', '0006', '0007']);
  const legacy = await fetch(`${url}/api/queues/${encodeURIComponent(source)}/messages?limit=100`);
  assert.equal(legacy.status, 200);
  assert.equal(((await legacy.json()) as unknown[]).length, 8);

  const exported = await ferry(['export', source]);
  assert.equal(exported.code, 0, exported.stderr);
  const bodies = lines(exported.stdout).map((l) => l.body.data);
  assert.equal(bodies.length, count);
  bodies.forEach((body, i) => assert.ok(body === bodyOf(i), `message ${i} whole and in its place`));
});

test('export, then import once the queue is emptied, give a JMS consumer the same messages: every body type, every property type, group and reply-to', { skip: openwireJavaMissing() ?? false, timeout: 120_000 }, async () => {
  const queue = uniqueName('export.jms');
  const jms = `tcp://127.0.0.1:${broker.ports.openwire}`;
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-export-')), 'jms.jsonl');
  const sent = (await runDriver('send', jms, { queue, rounds: 1 })).lines.filter((l) => l['event'] === 'sent');
  assert.equal(sent.length, 6);
  const exported = await ferry(['export', queue, file]);
  assert.equal(exported.code, 0, exported.stderr);
  // what the JMS client received of the messages as first sent is what it must receive after the import
  const received = async (): Promise<Map<string, DriverLine>> => {
    const lines = (await runDriver('receive', jms, { queue, count: 6 })).lines.filter((l) => l['event'] === 'received');
    assert.equal(lines.length, 6);
    // what the broker gives anew to each message it takes in, and what a delivery adds
    return new Map(lines.map(({ id: _i, timestamp: _t, expiration, redelivered: _r, deliveryCount: _d, ...rest }) => {
      assert.ok((expiration as number) > 0, 'the message still expires');
      return [rest['kind'] as string, rest];
    }));
  };
  const first = await received();
  assert.deepEqual([...first.keys()].sort(), ['bytes', 'map', 'message', 'object', 'stream', 'text']);
  const imported = await ferry(['import', queue, file]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stderr, /imported 6 messages/);
  const again = await received();
  for (const [kind, line] of first) assert.deepEqual(again.get(kind), line, kind);
  // the first is as the driver sent it: the comparison is not between two equally lost copies
  const map = first.get('map')!;
  assert.deepEqual((map['body'] as Record<string, unknown>)['short'], ['short', -1234]);
  assert.deepEqual((map['properties'] as Record<string, unknown>)['pFloat'], ['float', 3.5]);
});

test('a dead letter exported and imported again keeps where it was first sent, so a retry sends it back there', async () => {
  const work = uniqueName('export.work');
  const mark = uniqueName('case');
  const { raw } = await RawStompClient.connected(broker.stompPort);
  try {
    await raw.sendWithReceipt('SEND', { destination: `/queue/${work}`, persistent: 'true', case: mark }, 'poison');
    await raw.sendWithReceipt('SUBSCRIBE', { id: 's', destination: `/queue/${work}`, ack: 'client-individual' });
    const message = await raw.nextFrameOf('MESSAGE');
    await raw.sendWithReceipt('NACK', { id: message.headers.get('ack')! });
    await raw.sendWithReceipt('UNSUBSCRIBE', { id: 's' });
  } finally {
    raw.destroy();
  }
  const selector = ['--selector', `case = '${mark}'`];
  const exported = await ferry(['export', 'ActiveMQ.DLQ', ...selector]);
  assert.equal(exported.code, 0, exported.stderr);
  const [letter] = lines(exported.stdout);
  assert.equal(letter?.originalDestination, `queue://${work}`);
  const dropped = await fetch(`${url}/api/v1/queues/ActiveMQ.DLQ/messages/${encodeURIComponent(letter.id)}`, { method: 'DELETE' });
  assert.equal(dropped.status, 204);

  const imported = await ferry(['import', 'ActiveMQ.DLQ'], { input: exported.stdout });
  assert.equal(imported.code, 0, imported.stderr);
  const retried = await ferry(['retry-dlq', 'ActiveMQ.DLQ', ...selector]);
  assert.equal(retried.code, 0, retried.stderr);
  assert.equal(retried.stdout, 'retried 1 message from ActiveMQ.DLQ\n');
  const back = await ferry(['export', work]);
  assert.deepEqual(lines(back.stdout).map((l) => l.body.data), ['poison']);
});
