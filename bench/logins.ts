// What a password login costs Ferry, and whether a storm of them holds up delivery to clients already
// connected. A login is one scrypt check at the users file's cost, run off the event loop (at most two
// at a time, so the journal's file writes keep threads of libuv's pool).
//
// 1. Logins per second: N sockets in parallel, each STOMP CONNECT with login/passcode, CONNECTED,
//    DISCONNECT, again, for a fixed number of logins.
// 2. The storm check: one producer and one consumer of persistent messages on a queue at a fixed rate;
//    delivery latency (send to receipt) is measured for a quiet window, then a window during which many
//    sockets log in over and over (good and wrong passwords), then a quiet window again.

import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hashPassword, makeScramCredentials, SCRYPT_COST } from '../src/security/passwords.js';
import { StompParser, encodeFrame } from '../src/protocols/stomp/codec.js';
import { startFerry } from './ferry.js';
import { activeMqInstalled, DEFAULT_ACTIVEMQ_HOME, startActiveMq } from './activemq.js';
import { portFor } from './broker.js';
import type { RunningBroker } from './broker.js';
import { StompClient } from './stomp-client.js';
import { LatencyHistogram } from './histogram.js';
import { nowUs } from './clock.js';
import { processCpuUs } from './cpu.js';
import { positive, UsageError } from './args.js';

const USER = 'bench';
const PASSWORD = 'bench-secret';

const HELP = `node dist/bench/logins.js [options]
  --logins N          logins for the logins-per-second measure (default 200)
  --parallel N        sockets logging in at once (default 8)
  --rate N            messages per second of the storm check's producer (default 1000)
  --window SECONDS    length of each of the storm check's three windows (default 8)
  --storm-sockets N   sockets of the storm, each logging in over and over (default 32)
  --wrong FRACTION    share of the storm's logins with a wrong password (default 0.5)
  --broker NAME[,NAME] ferry, activemq or both (default both; ActiveMQ only when installed)
  --activemq-home DIR an ActiveMQ 5.x (default ${DEFAULT_ACTIVEMQ_HOME})
  --keep              keep the broker's temporary folder`;

interface Options {
  logins: number;
  parallel: number;
  rate: number;
  windowS: number;
  stormSockets: number;
  wrong: number;
  keep: boolean;
  brokers: string[];
  activeMqHome: string;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { logins: 200, parallel: 8, rate: 1000, windowS: 8, stormSockets: 32, wrong: 0.5, keep: false, brokers: ['ferry', 'activemq'], activeMqHome: DEFAULT_ACTIVEMQ_HOME };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = (): string | undefined => argv[++i];
    switch (a) {
      case '--logins': o.logins = positive(a.slice(2), v(), o.logins, true); break;
      case '--parallel': o.parallel = positive(a.slice(2), v(), o.parallel, true); break;
      case '--rate': o.rate = positive(a.slice(2), v(), o.rate, true); break;
      case '--window': o.windowS = positive(a.slice(2), v(), o.windowS, false); break;
      case '--storm-sockets': o.stormSockets = positive(a.slice(2), v(), o.stormSockets, true); break;
      case '--wrong': {
        const w = Number(v());
        if (!(w >= 0 && w <= 1)) throw new UsageError('--wrong takes a fraction from 0 to 1');
        o.wrong = w;
        break;
      }
      case '--keep': o.keep = true; break;
      case '--activemq-home': o.activeMqHome = v() ?? o.activeMqHome; break;
      case '--broker': {
        const names = (v() ?? '').split(',');
        o.brokers = names.includes('both') ? ['ferry', 'activemq'] : names;
        if (o.brokers.some((b) => b !== 'ferry' && b !== 'activemq')) throw new UsageError('--broker takes ferry, activemq or both');
        break;
      }
      case '--help': console.log(HELP); process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default: throw new UsageError(`unknown option ${a}\n${HELP}`);
    }
  }
  return o;
}

/** One STOMP login: CONNECT with login/passcode; true for CONNECTED, false for ERROR. Then DISCONNECT. */
function loginOnce(port: number, passcode: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      if (ok) socket.end(encodeFrame('DISCONNECT', [], undefined, '1.2'));
      socket.destroy();
      resolve(ok);
    };
    const parser = new StompParser(
      { maxFrameSize: 1 << 20, maxHeaderSize: 1 << 16, maxHeaders: 100 },
      (frame) => finish(frame.command === 'CONNECTED'),
      (err) => reject(err),
    );
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.once('connect', () =>
      socket.write(
        encodeFrame('CONNECT', [['accept-version', '1.2'], ['host', 'ferry'], ['login', USER], ['passcode', passcode]], undefined, '1.0'),
      ),
    );
  });
}

async function loginsPerSecond(port: number, pid: number, o: Options): Promise<{ perS: number; cpuMsPerLogin: number }> {
  let left = o.logins;
  const cpu0 = processCpuUs(pid);
  const t0 = nowUs();
  const worker = async (): Promise<void> => {
    while (left-- > 0) {
      if (!(await loginOnce(port, PASSWORD))) throw new Error('a good password was refused');
    }
  };
  await Promise.all(Array.from({ length: o.parallel }, worker));
  const elapsedS = (nowUs() - t0) / 1e6;
  return { perS: o.logins / elapsedS, cpuMsPerLogin: (processCpuUs(pid) - cpu0) / 1000 / o.logins };
}

interface Window {
  hist: LatencyHistogram;
  /** Longest time between two deliveries, µs: a stall shows here even when percentiles hide it. */
  maxGapUs: number;
  delivered: number;
}

const newWindow = (): Window => ({ hist: new LatencyHistogram(), maxGapUs: 0, delivered: 0 });

async function stormCheck(port: number, o: Options): Promise<{ quiet: Window; storm: Window; after: Window; logins: { good: number; wrong: number } }> {
  const login = { login: USER, passcode: PASSWORD };
  const consumer = await StompClient.connect('127.0.0.1', port, 15_000, login);
  const producer = await StompClient.connect('127.0.0.1', port, 15_000, login);
  const queue = '/queue/bench.storm';
  await consumer.request('SUBSCRIBE', [['destination', queue], ['id', '1'], ['ack', 'auto']]);

  let current: Window | undefined;
  let lastRecv = 0;
  consumer.onMessage = (frame, recvUs) => {
    const sent = Number(frame.body.toString());
    if (current !== undefined) {
      current.hist.record(recvUs - sent);
      current.delivered++;
      if (lastRecv > 0) current.maxGapUs = Math.max(current.maxGapUs, recvUs - lastRecv);
    }
    lastRecv = recvUs;
  };

  // sends on a schedule: each tick sends what is due since the start, so a late tick catches up
  const start = nowUs();
  let sent = 0;
  const tick = setInterval(() => {
    const due = Math.floor(((nowUs() - start) / 1e6) * o.rate);
    for (; sent < due; sent++) {
      producer.write(producer.encode('SEND', [['destination', queue], ['persistent', 'true']], Buffer.from(String(nowUs()))));
    }
  }, 5);

  const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));
  const logins = { good: 0, wrong: 0 };
  try {
    await sleep(2); // warm-up
    const quiet = newWindow();
    current = quiet;
    lastRecv = 0;
    await sleep(o.windowS);

    const storm = newWindow();
    current = storm;
    lastRecv = 0;
    let storming = true;
    let n = 0;
    const stormer = async (): Promise<void> => {
      while (storming) {
        // spreads the wrong ones evenly: login n is wrong when it takes the count of wrong ones up a step
        const wrong = Math.floor((n + 1) * o.wrong) > Math.floor(n * o.wrong);
        n++;
        const ok = await loginOnce(port, wrong ? 'not-the-password' : PASSWORD);
        if (ok) logins.good++;
        else logins.wrong++;
      }
    };
    const stormers = Promise.all(Array.from({ length: o.stormSockets }, stormer));
    await sleep(o.windowS);
    current = undefined; // the logins still under way when the window closes are not counted in it
    storming = false;
    const inWindow = { ...logins };
    await stormers;

    const after = newWindow();
    current = after;
    lastRecv = 0;
    await sleep(o.windowS);
    current = undefined;
    return { quiet, storm, after, logins: inWindow };
  } finally {
    clearInterval(tick);
    await producer.close();
    await consumer.close();
  }
}

const ms = (us: number): string => (us / 1000).toFixed(2);
const ratio = (a: number, b: number): string => (a / b).toFixed(2);

async function measure(name: string, broker: RunningBroker, port: number, o: Options): Promise<void> {
  const rate = await loginsPerSecond(port, broker.pid, o);
  console.log(`\n== ${name}`);
  console.log(
    `logins: ${o.logins} with ${o.parallel} in parallel: ${rate.perS.toFixed(1)} logins/s, broker CPU ${rate.cpuMsPerLogin.toFixed(1)} ms per login`,
  );
  const r = await stormCheck(port, o);
  console.log(
    `storm: ${o.stormSockets} sockets, ${r.logins.good} good + ${r.logins.wrong} wrong logins in the ${o.windowS} s window (${((r.logins.good + r.logins.wrong) / o.windowS).toFixed(1)}/s)`,
  );
  console.log(`persistent STOMP queue 1->1 at ${o.rate} msg/s, delivery latency in ms:`);
  console.log('window   delivered      p50      p99    p99.9      max  longest gap');
  for (const [label, w] of [['quiet', r.quiet], ['storm', r.storm], ['after', r.after]] as const) {
    console.log(
      `${label.padEnd(8)} ${String(w.delivered).padStart(9)} ${ms(w.hist.quantileUs(0.5)).padStart(8)} ${ms(w.hist.quantileUs(0.99)).padStart(8)} ${ms(w.hist.quantileUs(0.999)).padStart(8)} ${ms(w.hist.maxUs).padStart(8)} ${ms(w.maxGapUs).padStart(12)}`,
    );
  }
  const q = r.quiet.hist;
  const s = r.storm.hist;
  console.log(
    `storm/quiet: p50 ${ratio(s.quantileUs(0.5), q.quantileUs(0.5))}, p99 ${ratio(s.quantileUs(0.99), q.quantileUs(0.99))}, p99.9 ${ratio(s.quantileUs(0.999), q.quantileUs(0.999))}, longest gap ${ratio(r.storm.maxGapUs, r.quiet.maxGapUs)}`,
  );
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  console.log(`Ferry's scrypt cost ${JSON.stringify(SCRYPT_COST)}; ${os.cpus().length} cores`);
  if (o.brokers.includes('ferry')) await measureFerry(o);
  if (o.brokers.includes('activemq')) {
    if (!activeMqInstalled(o.activeMqHome)) {
      console.log(`\n== activemq: not installed in ${o.activeMqHome}, skipped`);
      return;
    }
    const amq = await startActiveMq({ home: o.activeMqHome, keepFolder: o.keep, user: { name: USER, password: PASSWORD } });
    try {
      const port = portFor(amq, 'stomp');
      if (port === undefined) throw new Error('ActiveMQ has no STOMP port');
      await measure('activemq (simple authentication plugin)', amq, port, o);
    } finally {
      await amq.stop();
    }
  }
}

async function measureFerry(o: Options): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-logins-'));
  // the default scrypt cost, as `ferry user` writes it: what a real login costs
  const hash = await hashPassword(PASSWORD, SCRYPT_COST);
  const scram = await makeScramCredentials(PASSWORD);
  writeFileSync(
    path.join(dir, 'users.yaml'),
    `users:\n  ${USER}:\n    password: ${JSON.stringify(hash)}\n    scram: ${JSON.stringify(scram)}\n    groups: [bench]\n`,
    { mode: 0o600 },
  );
  // The failed-login delay is made 1 ms: the storm comes from one address, and the delay would
  // otherwise hold most wrong logins back before their scrypt check, which is not the load in question.
  const everything = 'read: [bench], write: [bench], create: [bench], browse: [bench], admin: [bench] }';
  writeFileSync(
    path.join(dir, 'ferry.yaml'),
    [
      'security:',
      '  users: users.yaml',
      '  failedLoginDelay: { initial: 1, max: 1 }',
      '  authorization:',
      `    - { queue: ">", ${everything}`,
      `    - { topic: ">", ${everything}`,
      '',
    ].join('\n'),
  );
  const ferry = await startFerry({ config: path.join(dir, 'ferry.yaml'), keepFolder: o.keep });
  try {
    await measure('ferry (users file)', ferry, ferry.stompPort, o);
  } finally {
    await ferry.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof UsageError ? err.message : err);
  process.exit(1);
});
