import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { ferryBin, runFerry, type Finished } from '../helpers/process.js';
import { RawStompClient, unescapeValue, uniqueName } from '../helpers/raw-stomp.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';

// The operators' verbs, run as the built `ferry` against a broker on port 0: what they print is
// checked against what was sent over STOMP, and their exit statuses against what went wrong.

interface DestinationItem {
  kind: string;
  name: string;
  depth: number;
  inFlight: number;
  enqueued: number;
  dequeued: number;
  consumers: number;
  producers: number;
}

let broker: TestBroker;
let url: string;
let raw: RawStompClient;

before(async () => {
  broker = await startBroker();
  url = `http://127.0.0.1:${broker.server.ports['http']}`;
  ({ raw } = await RawStompClient.connected(broker.stompPort));
});

after(async () => {
  raw.destroy();
  await broker.stop();
});

const ferry = (args: string[], options: Parameters<typeof runFerry>[1] = {}): Promise<Finished> => runFerry([...args, '--url', url], options);

async function ok(args: string[]): Promise<string> {
  const run = await ferry(args);
  assert.equal(run.code, 0, `ferry ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

async function json<T>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '--json'])) as T;
}

async function send(queue: string, body: string, headers: Record<string, string> = {}): Promise<void> {
  await raw.sendWithReceipt('SEND', { destination: `/queue/${queue}`, persistent: 'true', ...headers }, body);
}

async function destination(name: string): Promise<DestinationItem | undefined> {
  const { items } = await json<{ items: DestinationItem[] }>(['dstat', '--filter', name]);
  return items.find((d) => d.name === name && d.kind === 'queue');
}

/** The cells of `name`'s row, by the table's column headings. */
function row(table: string, first: string): Record<string, string> {
  const lines = table.trimEnd().split('\n');
  const heads = lines[0]!.split(/\s{2,}/);
  const line = lines.find((l) => l.split(/\s{2,}/)[1] === first || l.split(/\s{2,}/)[0] === first);
  assert.ok(line !== undefined, `a row for ${first} in\n${table}`);
  const cells = line.split(/\s{2,}/);
  return Object.fromEntries(heads.map((h, i) => [h, cells[i] ?? '']));
}

/** The queues' table of `ferry stat`, which follows its lines of broker figures. */
function queueTable(stat: string): string {
  const lines = stat.split('\n');
  const start = lines.findIndex((l) => l.startsWith('queue '));
  assert.ok(start >= 0, `a queues table in\n${stat}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

describe('dstat', () => {
  test('the table and --json show each queue\'s depth, in flight, counts and consumers', async () => {
    const prefix = uniqueName('dstat');
    const [a, b] = [`${prefix}.a`, `${prefix}.b`];
    for (const n of [1, 2, 3]) await send(a, `a ${n}`);
    await send(b, 'b 1');
    const consumer = (await RawStompClient.connected(broker.stompPort)).raw;
    try {
      await consumer.sendWithReceipt('SUBSCRIBE', { id: 'held', destination: `/queue/${b}`, ack: 'client-individual' });
      await consumer.nextFrameOf('MESSAGE');

      const { total, items } = await json<{ total: number; items: DestinationItem[] }>(['dstat', '--filter', `${prefix}.*`]);
      assert.equal(total, 2);
      const byName = new Map(items.map((d) => [d.name, d]));
      assert.deepEqual(
        [a, b].map((n) => {
          const d = byName.get(n)!;
          return [d.kind, d.depth, d.inFlight, d.enqueued, d.consumers];
        }),
        [
          ['queue', 3, 0, 3, 0],
          ['queue', 0, 1, 1, 1],
        ],
      );

      const table = await ok(['dstat', '--filter', `${prefix}.*`]);
      assert.deepEqual(table.split('\n')[0]!.split(/\s{2,}/), ['kind', 'name', 'depth', 'in flight', 'enqueued', 'dequeued', 'consumers', 'producers', 'paused']);
      assert.deepEqual([row(table, a)['depth'], row(table, a)['enqueued'], row(table, b)['in flight'], row(table, b)['consumers'], row(table, a)['paused']], ['3', '3', '1', '1', 'no']);

      const deepestFirst = await json<{ items: DestinationItem[] }>(['dstat', '--filter', `${prefix}.*`, '--sort', '-depth']);
      assert.deepEqual(deepestFirst.items.map((d) => d.name), [a, b]);
      const byInFlight = await json<{ items: DestinationItem[] }>(['dstat', '--filter', `${prefix}.*`, '--sort', '-in-flight']);
      assert.deepEqual(byInFlight.items.map((d) => d.name), [b, a]);
      const topics = await json<{ items: DestinationItem[] }>(['dstat', '--kind', 'topic', '--filter', `${prefix}.*`]);
      assert.deepEqual(topics.items, []);
    } finally {
      consumer.destroy();
    }
  });

  test('--watch redraws until interrupted, then exits 0', async () => {
    const name = uniqueName('watched');
    await send(name, 'one');
    const child = spawn(process.execPath, [ferryBin, 'dstat', '--watch', '1', '--filter', name, '--url', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const shown = (depth: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const pattern = new RegExp(`${name.replaceAll('.', '\\.')}\\s+${depth}\\s`);
        const check = (): void => {
          if (!pattern.test(out)) return;
          child.stdout.off('data', check);
          resolve();
        };
        child.stdout.on('data', check);
        check();
        void exited.then(() => reject(new Error(`dstat --watch ended by itself: ${out}`)));
      });
    await shown(1);
    // the next drawing shows a message sent after the first
    await send(name, 'two');
    await shown(2);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.ok(out.split('\nkind').length >= 3, 'at least two drawings');
  });
});

describe('pause, resume', () => {
  test('pause holds a queue\'s deliveries and dstat shows it; resume lets them go; several names as purge takes them', async () => {
    const [held, other] = [uniqueName('paused'), uniqueName('paused')];
    await send(held, 'waits');
    await send(other, 'also');
    assert.equal(await ok(['pause', held, other]), `paused ${held}\npaused ${other}\n`);
    const consumer = (await RawStompClient.connected(broker.stompPort)).raw;
    try {
      await consumer.sendWithReceipt('SUBSCRIBE', { id: 'waiting', destination: `/queue/${held}`, ack: 'client-individual' });
      const table = await ok(['dstat', '--filter', 'paused.*']);
      assert.deepEqual([row(table, held)['paused'], row(table, held)['depth'], row(table, held)['in flight'], row(table, held)['consumers'], row(table, other)['paused']], ['yes', '1', '0', '1', 'yes']);
      assert.deepEqual(await json(['resume', held]), { resumed: [held], notFound: [] });
      const message = await consumer.nextFrameOf('MESSAGE');
      assert.equal(message.body.toString(), 'waits');
      assert.deepEqual([row(await ok(['dstat', '--filter', 'paused.*']), held)['paused'], (await destination(other))?.depth], ['no', 1]);
    } finally {
      consumer.destroy();
    }
    assert.equal(await ok(['resume', other]), `resumed ${other}\n`);
  });

  test('an unknown queue among others is named, the others are paused all the same, and the exit status is 4', async () => {
    const [first, second, missing] = [uniqueName('paused'), uniqueName('paused'), uniqueName('no.such')];
    await send(first, 'one');
    await send(second, 'two');
    const run = await ferry(['pause', first, missing, second]);
    assert.equal(run.code, 4, run.stderr);
    assert.equal(run.stdout, `paused ${first}\npaused ${second}\n`);
    assert.match(run.stderr, new RegExp(`^ferry: FERRY_DESTINATION_NOT_FOUND: no queue "${missing.replace(/\./g, '\\.')}"\n$`));
    const asJson = await ferry(['resume', missing, first, second, '--json']);
    assert.equal(asJson.code, 4, asJson.stderr);
    assert.deepEqual(JSON.parse(asJson.stdout), { resumed: [first, second], notFound: [missing] });
    const { items } = await json<{ items: { name: string; paused: boolean }[] }>(['dstat', '--filter', 'paused.*']);
    assert.deepEqual(items.filter((d) => d.name === first || d.name === second).map((d) => d.paused), [false, false]);
  });

  test('ferry stat shows a paused queue as dstat does, in its table and in --json', async () => {
    const [held, other] = [uniqueName('stat.paused'), uniqueName('stat.paused')];
    await send(held, 'waits');
    await send(other, 'goes');
    await ok(['pause', held]);
    try {
      const table = queueTable(await ok(['stat']));
      assert.deepEqual([row(table, held)['paused'], row(table, held)['waiting'], row(table, other)['paused']], ['yes', '1', 'no']);
      const { queues } = await json<{ queues: { name: string; paused: boolean }[] }>(['stat']);
      assert.deepEqual([held, other].map((name) => queues.find((q) => q.name === name)?.paused), [true, false]);
    } finally {
      await ok(['resume', held]);
    }
    assert.equal(row(queueTable(await ok(['stat'])), held)['paused'], 'no');
  });

  test('a topic shows "-" in the paused column: only a queue can be paused', async () => {
    const topic = uniqueName('paused.topic');
    await raw.sendWithReceipt('SEND', { destination: `/topic/${topic}` }, 'nobody listens');
    assert.equal(row(await ok(['dstat', '--kind', 'topic', '--filter', topic]), topic)['paused'], '-');
  });
});

describe('browse', () => {
  test('lists waiting messages without consuming them; --selector, --limit and --body', async () => {
    const queue = uniqueName('browsed');
    await send(queue, 'order 1', { region: 'eu', priority: '7', type: 'order', 'correlation-id': 'c-1' });
    await send(queue, 'order 2', { region: 'us' });
    await send(queue, 'order 3', { region: 'eu' });

    const all = await json<{ items: { id: string; priority: number; type: string | null; correlationId: string | null; bodyBytes: number }[] }>(['browse', queue]);
    assert.equal(all.items.length, 3);
    const first = all.items.find((m) => m.correlationId === 'c-1')!;
    assert.deepEqual([first.priority, first.type, first.bodyBytes], [7, 'order', 7]);

    const table = await ok(['browse', queue]);
    assert.deepEqual(table.split('\n')[0]!.split(/\s{2,}/), ['id', 'time', 'priority', 'persistent', 'deliveries', 'type', 'correlation id', 'body']);
    const cells = row(table, first.id);
    assert.deepEqual([cells['priority'], cells['type'], cells['correlation id'], cells['body']], ['7', 'order', 'c-1', 'text 7 B']);

    const eu = await json<{ items: { body: { data: string }; properties: { name: string; value: unknown }[] }[] }>(['browse', queue, '--selector', "region = 'eu'", '--body']);
    assert.deepEqual(eu.items.map((m) => m.body.data).sort(), ['order 1', 'order 3']);
    assert.ok(eu.items.every((m) => m.properties.some((p) => p.name === 'region' && p.value === 'eu')));
    const withBodies = await ok(['browse', queue, '--body', '--selector', "region = 'us'"]);
    assert.match(withBodies, /region \(string\) = us\norder 2\n/);

    const one = await json<{ items: unknown[] }>(['browse', queue, '--limit', '1']);
    assert.equal(one.items.length, 1);
    assert.equal((await destination(queue))?.depth, 3, 'browsing consumed nothing');
  });

  test('the older STOMP form still prints one body per line', async () => {
    const queue = uniqueName('stomp.browsed');
    await send(queue, 'first');
    await send(queue, 'second');
    const run = await runFerry(['browse', queue, '--port', String(broker.stompPort)]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n'), ['first', 'second']);
    const headers = await runFerry(['browse', queue, '--headers'], { env: { FERRY_STOMP_PORT: String(broker.stompPort) } });
    assert.equal(headers.code, 0, headers.stderr);
    assert.match(headers.stdout, new RegExp(`^destination:/queue/${queue.replaceAll('.', '\\.')}$`, 'm'));
  });
});

describe('purge, move, copy, retry-dlq', () => {
  test('purge drops the waiting messages and says how many', async () => {
    const queue = uniqueName('purged');
    for (const n of [1, 2, 3, 4]) await send(queue, `m ${n}`);
    assert.equal(await ok(['purge', queue]), `purged 4 messages from ${queue}\n`);
    assert.equal((await destination(queue))?.depth, 0);
    await send(queue, 'again');
    assert.deepEqual(await json(['purge', queue]), { purged: 1, queues: [{ name: queue, purged: 1 }], notFound: [] });
  });

  test('purge takes several queues, as ActiveMQ\'s does, and drops the messages of each', async () => {
    const [first, second] = [uniqueName('purged'), uniqueName('purged')];
    for (const n of [1, 2]) await send(first, `m ${n}`);
    for (const n of [1, 2, 3]) await send(second, `m ${n}`);
    assert.equal(await ok(['purge', first, second]), `purged 2 messages from ${first}\npurged 3 messages from ${second}\n`);
    assert.deepEqual([(await destination(first))?.depth, (await destination(second))?.depth], [0, 0]);
    await send(second, 'again');
    assert.deepEqual(await json(['purge', first, second]), { purged: 1, queues: [{ name: first, purged: 0 }, { name: second, purged: 1 }], notFound: [] });
  });

  test('purge with an unknown queue among others purges the others, names the unknown one and exits 4', async () => {
    const [first, second, missing] = [uniqueName('purged'), uniqueName('purged'), uniqueName('no.such')];
    for (const n of [1, 2]) await send(first, `m ${n}`);
    for (const n of [1, 2, 3]) await send(second, `m ${n}`);
    const run = await ferry(['purge', first, missing, second]);
    assert.equal(run.code, 4, run.stderr);
    assert.equal(run.stdout, `purged 2 messages from ${first}\npurged 3 messages from ${second}\n`);
    assert.match(run.stderr, new RegExp(`^ferry: FERRY_DESTINATION_NOT_FOUND: no queue "${missing.replace(/\./g, '\\.')}"\n$`));
    assert.deepEqual([(await destination(first))?.depth, (await destination(second))?.depth], [0, 0]);

    await send(second, 'again');
    const asJson = await ferry(['purge', missing, second, '--json']);
    assert.equal(asJson.code, 4, asJson.stderr);
    assert.deepEqual(JSON.parse(asJson.stdout), { purged: 1, queues: [{ name: second, purged: 1 }], notFound: [missing] });
  });

  test('copy by selector, move by id, then move the rest', async () => {
    const from = uniqueName('from');
    const to = uniqueName('to');
    await send(from, 'eu 1', { region: 'eu' });
    await send(from, 'us 1', { region: 'us' });
    await send(from, 'eu 2', { region: 'eu' });

    assert.equal(await ok(['copy', from, to, '--selector', "region = 'us'"]), `copied 1 message from ${from} to queue://${to}\n`);
    assert.deepEqual([(await destination(from))?.depth, (await destination(to))?.depth], [3, 1]);

    const { items } = await json<{ items: { id: string; body: { data: string } }[] }>(['browse', from, '--body']);
    const eu2 = items.find((m) => m.body.data === 'eu 2')!;
    assert.deepEqual(await json(['move', from, `queue://${to}`, '--id', eu2.id]), { moved: 1, inFlight: [] });
    assert.deepEqual(await json(['move', from, to]), { moved: 2 });
    assert.equal((await destination(from))?.depth, 0);
    const moved = await json<{ items: { body: { data: string } }[] }>(['browse', to, '--body']);
    assert.deepEqual(moved.items.map((m) => m.body.data).sort(), ['eu 1', 'eu 2', 'us 1', 'us 1']);
  });

  test('a selector compares STOMP header values with numbers as numbers, as a STOMP subscription does', async () => {
    const from = uniqueName('attempts');
    const to = `${from}.retry`;
    await send(from, 'tried 5', { attempts: '5' });
    await send(from, 'tried 1', { attempts: '1' });
    await send(from, 'tried 10', { attempts: '10' });

    const picked = await json<{ items: { body: { data: string } }[] }>(['browse', from, '--body', '--selector', 'attempts > 3']);
    assert.deepEqual(picked.items.map((m) => m.body.data).sort(), ['tried 10', 'tried 5']);
    assert.equal(await ok(['move', from, to, '--selector', 'attempts > 3']), `moved 2 messages from ${from} to queue://${to}\n`);
    assert.equal(await ok(['copy', from, to, '--selector', 'attempts BETWEEN 1 AND 2']), `copied 1 message from ${from} to queue://${to}\n`);
    const moved = await json<{ items: { body: { data: string } }[] }>(['browse', to, '--body']);
    assert.deepEqual(moved.items.map((m) => m.body.data).sort(), ['tried 1', 'tried 10', 'tried 5']);
  });

  /** A STOMP consumer NACKs the first message of `queue`, which sends it to the dead-letter queue. */
  async function nackFirst(queue: string): Promise<void> {
    const consumer = (await RawStompClient.connected(broker.stompPort)).raw;
    try {
      await consumer.sendWithReceipt('SUBSCRIBE', { id: 's', destination: `/queue/${queue}`, ack: 'client-individual' });
      const message = await consumer.nextFrameOf('MESSAGE');
      await consumer.sendWithReceipt('NACK', { id: message.headers.get('ack')! });
      await consumer.sendWithReceipt('UNSUBSCRIBE', { id: 's' });
    } finally {
      consumer.destroy();
    }
  }

  test('retry-dlq sends a dead letter back to the queue it came from', async () => {
    const queue = uniqueName('poisoned');
    await send(queue, 'poison');
    await nackFirst(queue);
    const dead = await json<{ items: { id: string; originalDestination: string | null }[] }>(['browse', 'ActiveMQ.DLQ']);
    const letter = dead.items.find((m) => m.originalDestination === `queue://${queue}`);
    assert.ok(letter !== undefined, `the dead letter of ${queue} is in ActiveMQ.DLQ`);
    assert.equal((await destination(queue))?.depth, 0);
    assert.equal(await ok(['retry-dlq', 'ActiveMQ.DLQ', '--id', letter.id]), 'retried 1 message from ActiveMQ.DLQ\n');
    const back = await json<{ items: { body: { data: string } }[] }>(['browse', queue, '--body']);
    assert.deepEqual(back.items.map((m) => m.body.data), ['poison']);
  });

  test('retry-dlq, move and copy of a dead letter that a consumer of the dead-letter queue holds unacknowledged say why it stayed and exit 4; the others go', async () => {
    const queue = uniqueName('held');
    for (const body of ['held', 'free']) {
      await send(queue, body);
      await nackFirst(queue);
    }
    const dead = await json<{ items: { id: string; originalDestination: string | null; body: { data: string } }[] }>(['browse', 'ActiveMQ.DLQ', '--body', '--limit', '1000']);
    const letter = (body: string): string => dead.items.find((m) => m.originalDestination === `queue://${queue}` && m.body.data === body)!.id;
    const held = letter('held');
    const free = letter('free');
    const holder = (await RawStompClient.connected(broker.stompPort)).raw;
    try {
      await holder.sendWithReceipt('SUBSCRIBE', { id: 'h', destination: '/queue/ActiveMQ.DLQ', ack: 'client-individual', selector: `JMSMessageID = '${held}'` });
      assert.equal(unescapeValue((await holder.nextFrameOf('MESSAGE')).headers.get('message-id')!), held);
      const copies = `${queue}.copies`;
      for (const [args, out, past] of [
        [['retry-dlq', 'ActiveMQ.DLQ', '--id', held], 'retried 0 messages from ActiveMQ.DLQ\n', 'retried'],
        [['move', 'ActiveMQ.DLQ', copies, '--id', held], `moved 0 messages from ActiveMQ.DLQ to queue://${copies}\n`, 'moved'],
        [['copy', 'ActiveMQ.DLQ', copies, '--id', held], `copied 0 messages from ActiveMQ.DLQ to queue://${copies}\n`, 'copied'],
      ] as const) {
        const run = await ferry([...args]);
        assert.equal(run.code, 4, `ferry ${args.join(' ')}: ${run.stdout}${run.stderr}`);
        assert.equal(run.stdout, out);
        assert.equal(run.stderr, `ferry: 1 message in flight to a consumer, not ${past}: ${held}\n`);
      }
      const both = await ferry(['retry-dlq', 'ActiveMQ.DLQ', '--id', held, '--id', free, '--json']);
      assert.equal(both.code, 4, both.stderr);
      assert.deepEqual(JSON.parse(both.stdout), { retried: 1, inFlight: [held] });
      assert.equal(both.stderr, `ferry: 1 message in flight to a consumer, not retried: ${held}\n`);
      const back = await json<{ items: { body: { data: string } }[] }>(['browse', queue, '--body']);
      assert.deepEqual(back.items.map((m) => m.body.data), ['free']);
      // given back by its consumer, it waits again and goes
      await holder.sendWithReceipt('UNSUBSCRIBE', { id: 'h' });
      assert.equal(await ok(['retry-dlq', 'ActiveMQ.DLQ', '--id', held]), 'retried 1 message from ActiveMQ.DLQ\n');
    } finally {
      holder.destroy();
    }
  });

  test('retry-dlq, move and copy with an id that is not in the queue name it, move nothing and exit 4, as a delete of it would', async () => {
    const queue = uniqueName('typo');
    await send(queue, 'kept');
    const { items } = await json<{ items: { id: string }[] }>(['browse', queue]);
    const real = items[0]!.id;
    for (const args of [['retry-dlq', queue, '--id', 'ID:nope'], ['move', queue, `${queue}.to`, '--id', real, '--id', 'ID:nope'], ['copy', queue, `${queue}.to`, '--id', 'ID:nope']]) {
      const run = await ferry(args);
      assert.equal(run.code, 4, `ferry ${args.join(' ')}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /^ferry: FERRY_NOT_FOUND: no message "ID:nope" in queue "[^"]+": nothing was (retried|moved|copied)\n$/);
      assert.equal(run.stdout, '');
    }
    assert.equal((await destination(queue))?.depth, 1);
    assert.equal(await destination(`${queue}.to`), undefined);
  });

  test('the README\'s retry-dlq example picks the dead letters that its ferry send -H type=order made', async () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const selector = /^ferry retry-dlq ActiveMQ\.DLQ --selector "([^"]+)"/m.exec(readme)?.[1];
    assert.ok(selector?.includes("'order'"), 'the README retries the dead orders');
    // a type of this test's own, as the dead-letter queue is shared
    const type = uniqueName('order');
    const queue = uniqueName('orders');
    const sent = await runFerry(['send', '--port', String(broker.stompPort), '-d', `/queue/${queue}`, '--body', 'order 1', '-H', `type=${type}`, '--persistent']);
    assert.equal(sent.code, 0, sent.stderr);
    await nackFirst(queue);
    assert.equal(await ok(['retry-dlq', 'ActiveMQ.DLQ', '--selector', selector!.replace("'order'", `'${type}'`)]), 'retried 1 message from ActiveMQ.DLQ\n');
    assert.equal((await destination(queue))?.depth, 1);
  });
});

describe('connections', () => {
  test('lists a client with its protocol and client id, and close-connection closes it', async () => {
    const clientId = uniqueName('client');
    const { raw: client } = await RawStompClient.connected(broker.stompPort, { 'client-id': clientId, login: 'guest', passcode: 'x' });
    try {
      const { items } = await json<{ items: { id: string; protocol: string; clientId: string | null; remoteAddress: string }[] }>(['connections']);
      const mine = items.find((c) => c.clientId === clientId);
      assert.ok(mine !== undefined, `a connection with client id ${clientId}`);
      assert.equal(mine.protocol, 'stomp');
      assert.match(mine.remoteAddress, /127\.0\.0\.1/);
      const cells = row(await ok(['connections']), mine.id);
      assert.deepEqual([cells['protocol'], cells['client id']], ['stomp', clientId]);

      assert.equal(await ok(['close-connection', mine.id]), `closed connection ${mine.id}\n`);
      await client.closed;
      const after = await json<{ items: { clientId: string | null }[] }>(['connections']);
      assert.ok(!after.items.some((c) => c.clientId === clientId));
    } finally {
      client.destroy();
    }
  });
});

describe('consumers', () => {
  test('lists each consumer with its destination, connection, client id, prefetch and in flight; of one destination, or all', async () => {
    const queue = uniqueName('consumed');
    const clientId = uniqueName('consumer');
    for (const n of [1, 2, 3]) await send(queue, `m ${n}`);
    const { raw: client } = await RawStompClient.connected(broker.stompPort, { 'client-id': clientId, login: 'guest', passcode: 'x' });
    try {
      await client.sendWithReceipt('SUBSCRIBE', { id: 'two', destination: `/queue/${queue}`, ack: 'client-individual', 'activemq.prefetchSize': '2', selector: "JMSType IS NULL" });
      await client.nextFrameOf('MESSAGE');
      await client.nextFrameOf('MESSAGE');
      const connection = (await json<{ items: { id: string; clientId: string | null }[] }>(['connections'])).items.find((c) => c.clientId === clientId)!;
      const { items } = await json<{ items: { destination: string; connectionId: string; clientId: string | null; protocol: string; remoteAddress: string; prefetch: number; inFlight: number; delivered: number }[] }>(['consumers', queue]);
      assert.deepEqual(
        items.map((c) => [c.destination, c.connectionId, c.clientId, c.protocol, c.prefetch, c.inFlight, c.delivered]),
        [[`queue://${queue}`, connection.id, clientId, 'stomp', 2, 2, 2]],
      );
      assert.match(items[0]!.remoteAddress, /127\.0\.0\.1/);
      const cells = row(await ok(['consumers', `queue://${queue}`]), `queue://${queue}`);
      assert.deepEqual(
        [cells['connection'], cells['protocol'], cells['client id'], cells['prefetch'], cells['in flight'], cells['delivered'], cells['selector']],
        [connection.id, 'stomp', clientId, '2', '2', '2', 'JMSType IS NULL'],
      );
      const all = await json<{ items: { destination: string }[] }>(['consumers']);
      assert.ok(all.items.some((c) => c.destination === `queue://${queue}`));
    } finally {
      client.destroy();
    }
  });

  test('a destination that does not exist exits 4 rather than list no consumers', async () => {
    const run = await ferry(['consumers', uniqueName('no.such')]);
    assert.equal(run.code, 4, run.stderr);
    assert.match(run.stderr, /^ferry: FERRY_[A-Z_]*NOT_FOUND: /);
    assert.equal(run.stdout, '');
  });
});

describe('sessions', () => {
  test('lists a connection\'s sessions, all of them or those of one connection', async () => {
    const clientId = uniqueName('sessions');
    const { raw: client } = await RawStompClient.connected(broker.stompPort, { 'client-id': clientId, login: 'guest', passcode: 'x' });
    try {
      await client.sendWithReceipt('SEND', { destination: `/queue/${uniqueName('sessions')}` }, 'one');
      const connection = (await json<{ items: { id: string; clientId: string | null }[] }>(['connections'])).items.find((c) => c.clientId === clientId)!;
      assert.ok(connection !== undefined);
      const { items } = await json<{ items: { id: string; connectionId: string; protocol: string; messagesIn: number }[] }>(['sessions', '--connection', connection.id]);
      assert.deepEqual(items.map((s) => [s.connectionId, s.protocol, s.messagesIn]), [[connection.id, 'stomp', 1]]);
      const all = await json<{ items: { id: string }[] }>(['sessions']);
      assert.ok(all.items.some((s) => s.id === items[0]!.id));
      const cells = row(await ok(['sessions']), items[0]!.id);
      assert.deepEqual([cells['connection'], cells['protocol'], cells['client id'], cells['in']], [connection.id, 'stomp', clientId, '1']);
      assert.equal((await ferry(['sessions', '--connection', 'no-such-connection'])).code, 4);
    } finally {
      client.destroy();
    }
  });
});

test('ferry send refuses -H for the headers it writes itself, which would send elsewhere than -d or leave the broker waiting', async () => {
  const [named, other] = [uniqueName('hdr.a'), uniqueName('hdr.b')];
  const port = String(broker.stompPort);
  for (const header of [`destination=/queue/${other}`, 'content-length=99', 'receipt=mine']) {
    const run = await runFerry(['send', '--port', port, '-d', named, '--body', 'abc', '-H', header], { timeoutMs: 10_000 });
    assert.equal(run.code, 1, `-H ${header}: ${run.stderr}`);
    assert.match(run.stderr, new RegExp(`--header ${header.slice(0, header.indexOf('='))} is set by ferry send itself`));
  }
  assert.deepEqual([await destination(named), await destination(other)], [undefined, undefined], 'nothing was sent');
});

describe('exit statuses', () => {
  test('4 for a missing queue or connection, with the broker\'s code', async () => {
    for (const args of [['purge', 'no.such.queue'], ['browse', 'no.such.queue'], ['close-connection', 'no-such-connection']]) {
      const run = await ferry(args);
      assert.equal(run.code, 4, `ferry ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^ferry: FERRY_[A-Z_]+: /);
    }
  });

  test('2 when nothing listens at --url', async () => {
    const run = await runFerry(['dstat', '--url', 'http://127.0.0.1:1']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /FERRY_CLI_UNREACHABLE: cannot reach the broker at http:\/\/127\.0\.0\.1:1/);
  });

  test('1 for a bad command line', async () => {
    for (const args of [['move', 'only.one'], ['dstat', '--no-such-option'], ['dstat', 'extra'], ['copy', 'a', 'b', 'c'], ['browse', 'a', 'b'], ['retry-dlq', 'a', 'b'], ['close-connection', 'a', 'b'], ['export', 'a', 'f', 'g'], ['connections', 'x'], ['stat', 'extra'], ['pause'], ['resume'], ['consumers', 'a', 'b'], ['dstat', '--kind', 'exchange'], ['browse', 'q', '--limit', 'many'], ['no-such-command']]) {
      const run = await ferry(args);
      assert.equal(run.code, 1, `ferry ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /FERRY_CLI_USAGE/);
    }
    const overStomp = await runFerry(['browse', 'a', 'b', '--port', String(broker.stompPort)]);
    assert.equal(overStomp.code, 1, overStomp.stderr);
    assert.match(overStomp.stderr, /FERRY_CLI_USAGE: unexpected argument "b"/);
    // what only the broker can find wrong in the command line: the API answers 400
    const sorted = await ferry(['dstat', '--sort', 'no-such-column']);
    assert.equal(sorted.code, 1, sorted.stderr);
    assert.match(sorted.stderr, /^ferry: FERRY_[A-Z_]+: /);
  });

  describe('with users', () => {
    let secure: SecureBroker;
    let secureUrl: string;
    before(async () => {
      secure = await startSecureBroker();
      secureUrl = `http://127.0.0.1:${secure.server.ports['http']}`;
    });
    after(() => secure.stop());

    test('3 for a wrong password or a user without the right; 0 with the right one', async () => {
      const wrong = await runFerry(['dstat', '--url', secureUrl, '--user', 'admin'], { env: { FERRY_PASSWORD: 'wrong' } });
      assert.equal(wrong.code, 3, wrong.stderr);
      assert.match(wrong.stderr, /FERRY_AUTHENTICATION_FAILED/);
      const reader = await runFerry(['dstat', '--url', secureUrl, '--user', 'reader'], { env: { FERRY_PASSWORD: 'reader-secret' } });
      assert.equal(reader.code, 3, reader.stderr);
      assert.match(reader.stderr, /FERRY_NOT_AUTHORIZED/);
      const admin = await runFerry(['dstat', '--url', secureUrl, '--user', 'admin', '--json'], { env: { FERRY_PASSWORD: 'admin-secret' } });
      assert.equal(admin.code, 0, admin.stderr);
      assert.equal(typeof (JSON.parse(admin.stdout) as { total: unknown }).total, 'number');
      // no password and no terminal to ask on: a usage error, not a login with an empty password
      const none = await runFerry(['dstat', '--url', secureUrl, '--user', 'admin'], { input: '' });
      assert.equal(none.code, 1, none.stderr);
      assert.match(none.stderr, /^ferry: FERRY_CLI_USAGE: --user admin needs a password/);
    });

    test('pause and resume log in as the other management commands do: FERRY_USER and FERRY_PASSWORD, 3 without the right', async () => {
      const asAdmin = await runFerry(['pause', 'secure.no.such', '--url', secureUrl], { env: { FERRY_USER: 'admin', FERRY_PASSWORD: 'admin-secret' } });
      assert.equal(asAdmin.code, 4, asAdmin.stderr);
      assert.match(asAdmin.stderr, /FERRY_DESTINATION_NOT_FOUND/);
      const asReader = await runFerry(['resume', 'secure.no.such', '--url', secureUrl], { env: { FERRY_USER: 'reader', FERRY_PASSWORD: 'reader-secret' } });
      assert.equal(asReader.code, 3, asReader.stderr);
      assert.match(asReader.stderr, /FERRY_NOT_AUTHORIZED/);
    });

    test('ferry receive: 2 when the broker refuses the login, as when it closes the connection; 1 only for the timeout', async () => {
      const port = String(secure.stompPort);
      for (const login of [['--user', 'admin', '--password', 'wrong'], ['--user', 'nobody', '--password', 'x'], []]) {
        const refused = await runFerry(['receive', '--port', port, '-d', 'secure.q', '-t', '500', ...login]);
        assert.equal(refused.code, 2, `${login.join(' ')}: ${refused.stderr}`);
        assert.match(refused.stderr, /^ferry: broker error: /);
      }
      const waited = await runFerry(['receive', '--port', port, '-d', 'secure.q', '-t', '300', '--user', 'admin', '--password', 'admin-secret']);
      assert.equal(waited.code, 1, waited.stderr);
    });

    test('ferry send and receive log in with FERRY_USER and FERRY_PASSWORD, as the management commands do; the flags win', async () => {
      const port = String(secure.stompPort);
      const login = { FERRY_USER: 'admin', FERRY_PASSWORD: 'admin-secret' };
      const sent = await runFerry(['send', '--port', port, '-d', 'secure.env', '--body', 'from the environment'], { env: login });
      assert.equal(sent.code, 0, sent.stderr);
      const got = await runFerry(['receive', '--port', port, '-d', 'secure.env', '-t', '5000'], { env: login });
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout, 'from the environment\n');
      const overridden = await runFerry(['send', '--port', port, '-d', 'secure.env', '--body', 'x', '--password', 'wrong'], { env: login });
      assert.equal(overridden.code, 1, overridden.stderr);
      assert.match(overridden.stderr, /^ferry: broker error: /);
    });
  });
});
