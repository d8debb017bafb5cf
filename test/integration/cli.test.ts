import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ferryBin, runFerry, spawnBroker } from '../helpers/process.js';
import { RawStompClient } from '../helpers/raw-stomp.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ferry-cli-'));

test('ferry start on port 0 logs its port; send and receive work through it; SIGTERM stops it cleanly', async () => {
  const broker = await spawnBroker(['--data', join(tmp(), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  const port = String(broker.ports['stomp']);
  assert.ok(Number(port) > 0);

  const sent = await runFerry(['send', '--port', port, '-d', 'cli.orders', '--body', 'order {n}', '-n', '3', '-H', 'type=order', '--persistent']);
  assert.equal(sent.code, 0, sent.stderr);
  const file = join(tmp(), 'payload.bin');
  writeFileSync(file, Buffer.from([1, 0, 2, 0, 3]));
  const sentFile = await runFerry(['send', '--port', port, '-d', '/queue/cli.bytes', '--file', file]);
  assert.equal(sentFile.code, 0, sentFile.stderr);

  const received = await runFerry(['receive', '--port', port, '-d', 'cli.orders', '-n', '3', '--headers']);
  assert.equal(received.code, 0, received.stderr);
  assert.match(received.stdout, /type:order/);
  assert.match(received.stdout, /persistent:true/);
  assert.deepEqual(received.stdout.split('\n').filter((l) => l.startsWith('order ')), ['order 1', 'order 2', 'order 3']);

  const bytes = await runFerry(['receive', '--port', port, '-d', 'cli.bytes']);
  assert.equal(bytes.code, 0, bytes.stderr);
  assert.deepEqual(Buffer.from(bytes.stdout, 'latin1').subarray(0, 5), Buffer.from([1, 0, 2, 0, 3]));

  const empty = await runFerry(['receive', '--port', port, '-d', 'cli.orders', '-t', '300']);
  assert.equal(empty.code, 1, 'nothing left: the timeout comes first');

  const code = await broker.stop('SIGTERM');
  assert.equal(code, 0);
  assert.ok(broker.logs.some((l) => l['event'] === 'broker.stopped'));
});

test('SIGHUP, as when the terminal the broker was started from closes, stops it cleanly and releases its data folder', async () => {
  const data = join(tmp(), 'data');
  const broker = await spawnBroker(['--data', data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  const sent = await runFerry(['send', '--port', String(broker.ports['stomp']), '-d', 'cli.hup', '--persistent']);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(await broker.stop('SIGHUP'), 0);
  assert.ok(broker.logs.some((l) => l['event'] === 'broker.stopping' && l['signal'] === 'SIGHUP'));
  assert.ok(broker.logs.some((l) => l['event'] === 'broker.stopped'));
  assert.equal(readdirSync(data).includes('lock'), false);
});

test('ports and the data folder come from the environment too, and a listener can be switched off', async () => {
  const data = join(tmp(), 'from-env');
  const broker = await spawnBroker(['--stomp-port', 'off'], { FERRY_DATA: data, FERRY_STOMP_PORT: '0', FERRY_HTTP_PORT: 'off', FERRY_AMQP_PORT: 'off', FERRY_MQTT_PORT: 'off', FERRY_OPENWIRE_PORT: 'off', FERRY_WS_PORT: 'off' });
  assert.deepEqual(broker.ports, {}, 'the option beats the environment and switches STOMP off; the others are off by environment');
  const started = broker.logs.find((l) => l['event'] === 'broker.started');
  assert.equal(started?.['data'], data);
  assert.equal(await broker.stop('SIGINT'), 0);
});

test('an HTTP timeout longer than a timer can take is a configuration mistake, as every other duration is', async () => {
  const file = join(tmp(), 'ferry.yaml');
  for (const key of ['headersTimeout', 'requestTimeout']) {
    writeFileSync(file, `http:\n  ${key}: 2147483648\n`);
    const bad = await runFerry(['start', '--config', file, '--data', join(tmp(), 'data')]);
    assert.equal(bad.code, 78, bad.stderr);
    const lines = bad.stderr.trim().split('\n');
    assert.equal(lines.length, 1, bad.stderr);
    assert.match(lines[0]!, new RegExp(`http\\.${key}`));
  }
});

test('an invalid configuration stops the start with one line naming the key', async () => {
  const dir = tmp();
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, 'stomp:\n  maxFrameSize: big\n');
  const bad = await runFerry(['start', '--config', file]);
  assert.equal(bad.code, 78);
  const lines = bad.stderr.trim().split('\n');
  assert.equal(lines.length, 1, bad.stderr);
  assert.match(lines[0]!, /stomp\.maxFrameSize/);

  writeFileSync(file, 'listeners:\n  stomp:\n    prot: 1\n');
  const unknown = await runFerry(['start', '--config', file]);
  assert.equal(unknown.code, 78);
  assert.match(unknown.stderr, /listeners\.stomp\.prot: unknown key/);

});

test('a PostgreSQL store URL that is not a postgresql:// URL stops the start with 78 and one line naming the key', async () => {
  const file = join(tmp(), 'ferry.yaml');
  for (const url of ['notaurl', 'http://db.example.com/ferry', 'postgresql://db.example.com:port/ferry']) {
    writeFileSync(file, `store:\n  type: postgres\n  postgres:\n    url: ${JSON.stringify(url)}\n`);
    const run = await runFerry(['start', '--config', file, '--data', join(tmp(), 'data')]);
    assert.equal(run.code, 78, `${url}: ${run.stderr}`);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /store\.postgres\.url: a postgresql:\/\/ or postgres:\/\/ URL/);
  }
});

/** Runs `ferry start` with a mistake; it must stop with 78 (EX_CONFIG) and one line that matches `names`. */
async function refusedStart(args: string[], env: NodeJS.ProcessEnv, names: RegExp): Promise<void> {
  const run = await runFerry(['start', '--data', join(tmp(), 'data'), ...args], { env });
  assert.equal(run.code, 78, `ferry start ${args.join(' ')}: ${run.stderr}`);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, names);
  assert.equal(run.stdout, '', 'nothing is logged: the broker never started');
}

test('a listener that cannot listen, or a data folder that is a file, stops the start with 1 and one line saying which', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const held = (holder.address() as AddressInfo).port;
  const others = ['--amqp-port', 'off', '--mqtt-port', 'off', '--openwire-port', 'off', '--ws-port', 'off', '--http-port', 'off'];
  try {
    for (const [args, line] of [
      [['--stomp-port', String(held), '--stomp-host', '127.0.0.1'], new RegExp(`^ferry: listeners\\.stomp\\.port \\(--stomp-port\\): port ${held} on 127\\.0\\.0\\.1 is in use by another program`)],
      [['--stomp-port', '0', '--stomp-host', '192.0.2.1'], /^ferry: listeners\.stomp\.host \(--stomp-host\): 192\.0\.2\.1 is not an address of this machine$/],
    ] as const) {
      const run = await runFerry(['start', '--data', join(tmp(), 'data'), ...args, ...others, '--log-level', 'silent']);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr.trim(), line);
    }
  } finally {
    holder.close();
  }
  const file = join(tmp(), 'a-file');
  writeFileSync(file, '');
  const run = await runFerry(['start', '--data', file, '--stomp-port', '0', ...others, '--log-level', 'silent']);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, `ferry: FERRY_STORE_FAILED: cannot use ${file} as the data folder: it is a file, not a folder; give another with --data\n`);
});

test('a mistake on the command line stops the start with 78 and one line naming the option', async () => {
  await refusedStart(['--stomp-port', 'abc'], {}, /^ferry: --stomp-port \(listeners\.stomp\.port\): .*"abc"/);
  await refusedStart(['--mqtt-port', '70000'], {}, /^ferry: --mqtt-port \(listeners\.mqtt\.port\): .*"70000"/);
  await refusedStart(['--stomp-port=12.5'], {}, /--stomp-port .*"12\.5"/);
  await refusedStart(['--log-level', 'loud'], {}, /^ferry: --log-level \(log\.level\): .*'loud'/);
  await refusedStart(['--broker-name', 'a b'], {}, /^ferry: --broker-name \(broker\.name\): /);
  await refusedStart(['--no-such-option'], {}, /'--no-such-option'/);
  await refusedStart(['--stomp-port'], {}, /'--stomp-port <value>' argument missing/);
  await refusedStart(['stray'], {}, /'stray'/);
});

test('a mistake in the environment stops the start with 78 and one line naming the variable', async () => {
  await refusedStart([], { FERRY_STOMP_PORT: 'abc' }, /^ferry: FERRY_STOMP_PORT \(listeners\.stomp\.port\): .*"abc"/);
  await refusedStart([], { FERRY_LOG_LEVEL: 'loud' }, /^ferry: FERRY_LOG_LEVEL \(log\.level\): /);
  await refusedStart([], { FERRY_WS_PORT: '-1' }, /^ferry: FERRY_WS_PORT \(listeners\.websocket\.port\): .*"-1"/);
});

test('keys that contradict each other stop the start with 78 and one line naming one of them', async () => {
  // the option moved STOMP onto MQTT's default port: the option is what to blame
  await refusedStart(['--stomp-port', '1883', '--mqtt-host', '127.0.0.1'], { FERRY_MQTT_PORT: '', FERRY_HTTP_PORT: '0', FERRY_AMQP_PORT: '0', FERRY_OPENWIRE_PORT: '0', FERRY_WS_PORT: '0' }, /^ferry: --stomp-port \(listeners\.stomp\.port\): listeners\.\w+\.port and listeners\.\w+\.port are both 1883/);
  const file = join(tmp(), 'ferry.yaml');
  writeFileSync(file, 'destinations:\n  composites:\n    - name: orders\n      forwardTo: ["queue://orders.eu", "queue:// "]\n');
  await refusedStart(['--config', file, '--stomp-port', '0'], {}, /ferry\.yaml: destinations\.composites\.0\.forwardTo\.1: "queue:\/\/ " names no destination/);
  writeFileSync(file, 'destinations:\n  composites:\n    - name: orders\n      forwardTo: ["queue://orders.*"]\n');
  await refusedStart(['--config', file, '--stomp-port', '0'], {}, /destinations\.composites\.0\.forwardTo\.0: .*wildcards/);
  writeFileSync(file, 'listeners:\n  stomp: { port: 7000 }\n  amqp: { port: 7000, host: 127.0.0.1 }\n');
  await refusedStart(['--config', file], { FERRY_AMQP_PORT: '' }, /ferry\.yaml: listeners\.amqp\.port: listeners\.stomp\.port and listeners\.amqp\.port are both 7000/);
});

test('a configuration file sets the listener', async () => {
  const dir = tmp();
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, `data: ${join(dir, 'd')}\nlisteners:\n  stomp:\n    host: 127.0.0.1\n    port: 0\nbroker:\n  name: east\n`);
  const broker = await spawnBroker(['--config', file]);
  assert.ok(broker.ports['stomp']! > 0);
  assert.equal(broker.logs[0]?.['broker'], 'east');
  assert.equal(await broker.stop(), 0);
});

test('help documents every start option', async () => {
  const help = await runFerry(['start', '--help']);
  assert.equal(help.code, 0);
  for (const option of ['--config', '--data', '--stomp-port', '--stomp-host', '--broker-name', '--log-level', 'FERRY_STOMP_PORT', 'FERRY_DATA', '--amqp091-port', '--ha']) {
    assert.ok(help.stdout.includes(option), `help mentions ${option}`);
  }
  for (const line of help.stdout.split('\n').filter((l) => l.includes('env FERRY_'))) assert.match(line, / env FERRY_\w+(=\w+)?$/, 'a space before env');
});

test('ferry browse, stat and purge: see waiting messages, count them, drop them', async () => {
  const broker = await spawnBroker(['--data', join(tmp(), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1']);
  const port = String(broker.ports['stomp']);
  const httpPort = String(broker.ports['http']);
  try {
    const sent = await runFerry(['send', '--port', port, '-d', 'admin.orders', '--body', 'order {n}', '-n', '3', '-H', 'region=eu']);
    assert.equal(sent.code, 0, sent.stderr);
    await runFerry(['send', '--port', port, '-d', 'admin.orders', '--body', 'us order', '-H', 'region=us']);

    const browsed = await runFerry(['browse', 'admin.orders', '--port', port, '--selector', "region = 'eu'"]);
    assert.equal(browsed.code, 0, browsed.stderr);
    assert.deepEqual(browsed.stdout.trim().split('\n'), ['order 1', 'order 2', 'order 3']);

    const stats = await runFerry(['stat', '--http-port', httpPort, '--json']);
    assert.equal(stats.code, 0, stats.stderr);
    const queue = (JSON.parse(stats.stdout) as { queues: { name: string; pending: number }[] }).queues.find((q) => q.name === 'admin.orders');
    assert.equal(queue?.pending, 4, 'browsing consumed nothing');
    const table = await runFerry(['stat', '--http-port', httpPort]);
    assert.match(table.stdout, /admin\.orders\s+4\s+0/);
    // the default body cache of 256 MiB holds these few bodies
    assert.match(table.stdout, /message bodies in memory: 0\.0 MiB \(limit 256\.0 MiB\)\s+on disk only: 0/);

    const purged = await runFerry(['purge', 'admin.orders', '--http-port', httpPort]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /purged 4 messages from admin\.orders/);
    const none = await runFerry(['purge', 'no.such.queue', '--http-port', httpPort]);
    assert.equal(none.code, 4, 'not found');
    assert.match(none.stderr, /^ferry: FERRY_[A-Z_]+: .*no\.such\.queue/);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
});

test('ferry browse over STOMP without the browse right prints the refusal alone, not a count of messages', async () => {
  const dir = tmp();
  const users = join(dir, 'users.yaml');
  for (const [name, group] of [['admin', 'admins'], ['reader', 'readers']]) {
    const added = await runFerry(['user', 'add', name!, '--groups', group!, '--file', users], { input: `${name!}-secret\n` });
    assert.equal(added.code, 0, added.stderr);
  }
  const config = join(dir, 'ferry.yaml');
  writeFileSync(
    config,
    [
      `data: ${join(dir, 'data')}`,
      'security:',
      '  users: users.yaml',
      '  authorization:',
      '    - { queue: ">", read: [admins], write: [admins], create: [admins], browse: [admins], admin: [admins] }',
      '    - { queue: secure.q, read: [readers] }',
      '',
    ].join('\n'),
  );
  const broker = await spawnBroker(['--config', config, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  const port = String(broker.ports['stomp']);
  try {
    const sent = await runFerry(['send', '--port', port, '-d', 'secure.q', '--body', 'kept', '--user', 'admin', '--password', 'admin-secret']);
    assert.equal(sent.code, 0, sent.stderr);
    const refused = await runFerry(['browse', 'secure.q', '--port', port, '--user', 'reader', '--password', 'reader-secret']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /broker error: .*browse/);
    assert.doesNotMatch(refused.stderr, /messages? waiting/, 'a refused browse saw no queue to count');
    assert.equal(refused.stdout, '');
    const allowed = await runFerry(['browse', 'secure.q', '--port', port, '--user', 'admin', '--password', 'admin-secret']);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(allowed.stdout, 'kept\n');
    assert.match(allowed.stderr, /^1 message waiting in secure\.q$/m);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
});

test('ferry send: --body sends text, --file and standard input send bytes', async () => {
  const broker = await spawnBroker(['--data', join(tmp(), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1']);
  const port = String(broker.ports['stomp']);
  try {
    const file = join(tmp(), 'body.bin');
    writeFileSync(file, Buffer.from([1, 0, 2]));
    assert.equal((await runFerry(['send', '--port', port, '-d', 'kinds', '--body', 'order 1'])).code, 0);
    assert.equal((await runFerry(['send', '--port', port, '-d', 'kinds', '--file', file])).code, 0);
    assert.equal((await runFerry(['send', '--port', port, '-d', 'kinds'], { input: 'from stdin' })).code, 0);
    const answer = await fetch(`http://127.0.0.1:${broker.ports['http']!}/api/v1/queues/kinds/messages?full=true`);
    const page = (await answer.json()) as { items: { bodyKind: string; body: { data: string } }[] };
    assert.deepEqual(page.items.map((m) => [m.bodyKind, m.body.data]), [['text', 'order 1'], ['bytes', 'AQAC'], ['bytes', Buffer.from('from stdin').toString('base64')]]);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
});

test('ferry send, receive and browse exit 2 when nothing listens at the port, as the other tools do', async () => {
  for (const args of [['send', '-d', 'q', '--body', 'x'], ['receive', '-d', 'q'], ['browse', 'q']]) {
    const run = await runFerry([...args, '--port', '1']);
    assert.equal(run.code, 2, `ferry ${args[0]!}: ${run.stderr}`);
    assert.match(run.stderr, /^ferry: FERRY_CLI_UNREACHABLE: cannot reach the broker at 127\.0\.0\.1:1: /);
  }
});

test('every usage error of send, receive and user exits 1 and names FERRY_CLI_USAGE, as errors.md says', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'ferry-cli-usage-'));
  const file = join(folder, 'users.yaml');
  const body = join(folder, 'body.bin');
  writeFileSync(body, 'from the file');
  for (const args of [['send', '-d', 'q', '--body', 'x', '--port', '99999'], ['send', '-d', 'q', '--body', 'x', '--bogus'], ['send', '--body', 'x'], ['send', '-d', 'q', '--body', 'x', '-H', 'novalue'], ['receive', '-d', 'q', '--ack', 'maybe'], ['receive', '-d', 'q', '--port', 'abc'], ['user', 'frob', '--file', file], ['user', 'add', '--file', file], ['user', 'list', '--bogus', '--file', file], ['user', 'list', 'extra', '--file', file], ['send', '-d', 'q', '--body', 'x', '--file', body], ['receive', '-d', '/topic/t', '--durable', 'w']]) {
    const run = await runFerry(args);
    assert.equal(run.code, 1, `ferry ${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, /^ferry: FERRY_CLI_USAGE: /, `ferry ${args.join(' ')}`);
  }
});

test('a wait longer than a timer can take (2^31 ms or more) is refused as a bad command line, not cut to 1 ms', async () => {
  // a broker that would answer nothing, so that a wait cut short could only end by the timeout
  const silent = createServer(() => undefined).listen(0, '127.0.0.1');
  await new Promise((resolve) => silent.once('listening', resolve));
  const port = String((silent.address() as AddressInfo).port);
  try {
    for (const args of [['receive', '-d', 'q', '-t', '99999999999', '--port', port], ['browse', 'q', '-t', '2147483648', '--port', port], ['dstat', '--watch', '3000000', '--url', `http://127.0.0.1:${port}`]]) {
      const run = await runFerry(args);
      assert.equal(run.code, 1, `ferry ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^ferry: .*2147483/, `ferry ${args.join(' ')}`);
    }
  } finally {
    silent.close();
  }
});

test('ferry store names what keeps each journal file on disk', async () => {
  const broker = await spawnBroker(['--data', join(tmp(), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  try {
    const port = String(broker.ports['stomp']);
    const sent = await runFerry(['send', '--port', port, '-d', 'kept.orders', '--body', 'order {n}', '-n', '15', '--persistent']);
    assert.equal(sent.code, 0, sent.stderr);
    const report = await runFerry(['store', '--http-port', String(broker.ports['http'])]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /journal file\(s\)/);
    assert.match(report.stdout, /message waiting in queue kept\.orders/);
    assert.match(report.stdout, /queue kept\.orders/);
    // 15 messages are 30 records and more: the report names 20 of a file's, and says so
    assert.match(report.stdout, /^  \d+ more live record\(s\), not named$/m);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
});

test('a second broker on the same data folder stops, naming the process that holds it', async () => {
  const data = join(tmp(), 'shared');
  const first = await spawnBroker(['--data', data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  try {
    const second = await runFerry(['start', '--data', data, '--stomp-port', '0', '--http-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--openwire-port', 'off', '--ws-port', 'off']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`in use by process ${first.child.pid}`));
  } finally {
    assert.equal(await first.stop(), 0);
  }
  // a clean stop releases it
  const again = await spawnBroker(['--data', data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  assert.equal(await again.stop(), 0);
});

test('a copy of a running broker\'s data folder (cp -a, a restored backup) starts on the same host with what the original had confirmed', async () => {
  const original = join(tmp(), 'original');
  const first = await spawnBroker(['--data', original, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  const copy = join(tmp(), 'copy');
  try {
    const sent = await runFerry(['send', '--port', String(first.ports['stomp']), '-d', 'kept.copied', '--body', 'order {n}', '-n', '3', '--persistent']);
    assert.equal(sent.code, 0, sent.stderr);
    // the copy carries the lock of the broker still running on the original
    cpSync(original, copy, { recursive: true, preserveTimestamps: true });
    assert.match(readFileSync(join(copy, 'lock'), 'utf8'), new RegExp(`^${first.child.pid} `));
    const second = await spawnBroker(['--data', copy, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
    try {
      const received = await runFerry(['receive', '--port', String(second.ports['stomp']), '-d', 'kept.copied', '-n', '3']);
      assert.equal(received.code, 0, received.stderr);
      assert.deepEqual(received.stdout.split('\n').filter((l) => l.startsWith('order ')), ['order 1', 'order 2', 'order 3']);
    } finally {
      assert.equal(await second.stop(), 0);
    }
    // the original is still held by its broker
    const third = await runFerry(['start', '--data', original, '--stomp-port', '0', '--http-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--openwire-port', 'off', '--ws-port', 'off']);
    assert.equal(third.code, 1);
    assert.match(third.stderr, new RegExp(`in use by process ${first.child.pid}, .*if process ${first.child.pid} is not a Ferry broker using this folder, remove .*lock`));
  } finally {
    assert.equal(await first.stop(), 0);
  }
});

test('a broker started without --ha and one started with it never share a data folder, whichever starts first', async () => {
  const alone = { data: join(tmp(), 'alone-first') };
  const quiet = ['--http-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--openwire-port', 'off', '--ws-port', 'off'];
  const first = await spawnBroker(['--data', alone.data, '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  try {
    // the lease is free, so the --ha broker would be primary at once: the lock keeps it from opening the journal in use
    const second = await runFerry(['start', '--data', alone.data, '--ha', '--stomp-port', '0', ...quiet]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`^ferry: FERRY_STORE_LOCKED: .*in use by process ${first.child.pid}, a broker started without --ha`));
    // refused before it took the lease: nothing in the folder or the log says it was ever primary
    assert.doesNotMatch(second.stdout, /"event":"ha\.primary"/);
    assert.deepEqual(readdirSync(alone.data).filter((f) => f.startsWith('ha-')), []);
    const sent = await runFerry(['send', '--port', String(first.ports['stomp']), '-d', 'kept.alone', '--body', 'order {n}', '-n', '3', '--persistent']);
    assert.equal(sent.code, 0, sent.stderr);
  } finally {
    assert.equal(await first.stop(), 0);
  }
  const again = await spawnBroker(['--data', alone.data, '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1']);
  try {
    const stat = await runFerry(['stat', '--http-port', String(again.ports['http'])]);
    assert.match(stat.stdout, /kept\.alone\s+3\b/, 'what the first broker confirmed is still there');
  } finally {
    assert.equal(await again.stop(), 0);
  }

  const shared = join(tmp(), 'ha-first');
  const primary = await spawnBroker(['--data', shared, '--ha', '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  try {
    const second = await runFerry(['start', '--data', shared, '--stomp-port', '0', ...quiet]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`^ferry: FERRY_STORE_LOCKED: .*in use by process ${primary.child.pid}, the primary of brokers started with --ha`));
  } finally {
    assert.equal(await primary.stop(), 0);
  }
});

test('ferry stat counts dead-lettered, discarded and expired messages each in its own column', async () => {
  const broker = await spawnBroker(['--data', join(tmp(), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--http-port', '0', '--http-host', '127.0.0.1']);
  const { raw } = await RawStompClient.connected(broker.ports['stomp']!);
  try {
    const q = '/queue/outcomes';
    await raw.sendWithReceipt('SEND', { destination: q }, 'transient poison');
    await raw.sendWithReceipt('SEND', { destination: q, persistent: 'true' }, 'persistent poison');
    // expired long ago: it leaves at the head of the queue, for the dead-letter queue (persistent)
    await raw.sendWithReceipt('SEND', { destination: q, persistent: 'true', expires: '1' }, 'stale');
    await raw.sendWithReceipt('SUBSCRIBE', { id: 's', destination: q, ack: 'client-individual' });
    const delivered = [await raw.nextFrameOf('MESSAGE'), await raw.nextFrameOf('MESSAGE')];
    assert.deepEqual(delivered.map((m) => m.body.toString()), ['transient poison', 'persistent poison']);
    for (const m of delivered) await raw.sendWithReceipt('NACK', { id: m.headers.get('ack')! });

    const json = await runFerry(['stat', '--http-port', String(broker.ports['http']), '--json']);
    assert.equal(json.code, 0, json.stderr);
    const stats = JSON.parse(json.stdout) as { queues: { name: string; pending: number; expired: number; deadLettered: number; discarded: number }[] };
    const queue = stats.queues.find((s) => s.name === 'outcomes');
    assert.deepEqual(
      { expired: queue?.expired, deadLettered: queue?.deadLettered, discarded: queue?.discarded },
      { expired: 1, deadLettered: 1, discarded: 1 },
    );
    const dlq = stats.queues.find((s) => s.name === 'ActiveMQ.DLQ');
    assert.equal(dlq?.pending, 2, 'the persistent poison and the expired message');

    const table = await runFerry(['stat', '--http-port', String(broker.ports['http'])]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('queue'))!.split(/\s{2,}/);
    const row = lines.find((l) => l.startsWith('outcomes '))!.split(/\s+/);
    const column = (name: string): string | undefined => row[header.indexOf(name)];
    assert.deepEqual([column('expired'), column('dead-lettered'), column('discarded')], ['1', '1', '1']);
  } finally {
    raw.destroy();
    assert.equal(await broker.stop(), 0);
  }
});

test('a port another program holds stops the start with one line naming the listener\'s key and option', async () => {
  const first = await spawnBroker(['--data', join(tmp(), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  try {
    const port = String(first.ports['stomp']);
    const env = { FERRY_HTTP_PORT: '0', FERRY_AMQP_PORT: '0', FERRY_MQTT_PORT: '0', FERRY_OPENWIRE_PORT: '0', FERRY_WS_PORT: '0' };
    const second = await runFerry(['start', '--data', join(tmp(), 'data'), '--stomp-port', port, '--stomp-host', '127.0.0.1'], { env });
    assert.equal(second.code, 1, second.stderr);
    const lines = second.stderr.trim().split('\n');
    assert.equal(lines.length, 1, second.stderr);
    assert.match(lines[0]!, new RegExp(`^ferry: listeners\\.stomp\\.port \\(--stomp-port\\): port ${port} on 127\\.0\\.0\\.1 is in use`));
  } finally {
    assert.equal(await first.stop(), 0);
  }
});

test('ferry receive piped into a reader that stops early ends quietly', async () => {
  const broker = await spawnBroker(['--data', join(tmp(), 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1']);
  try {
    const port = String(broker.ports['stomp']);
    const sent = await runFerry(['send', '--port', port, '-d', 'piped', '--body', 'line {n} '.repeat(2000), '-n', '50']);
    assert.equal(sent.code, 0, sent.stderr);
    // the reader takes the first chunk and closes its end of the pipe, as `head` does
    const child = spawn(process.execPath, [ferryBin, 'receive', '--port', port, '-d', 'piped', '-n', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(stderr, '', 'no stack trace');
    assert.equal(code, 0);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
});
