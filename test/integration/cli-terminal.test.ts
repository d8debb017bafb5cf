import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { ferryBin } from '../helpers/process.js';
import { RawStompClient, uniqueName } from '../helpers/raw-stomp.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';

// What the tools do on a terminal, under a real pseudo-terminal (`script`, from Debian's essential
// bsdutils package, so CI needs nothing more): the password is asked without echo, `dstat --watch`
// redraws in place, `bench` shows a progress line.

interface Terminal {
  /** Everything the terminal showed so far. */
  readonly screen: () => string;
  /** Types into the terminal. */
  type(text: string): void;
  /** Resolves when the screen matches. */
  shows(pattern: RegExp): Promise<void>;
  readonly exited: Promise<number | null>;
}

const quote = (arg: string): string => `'${arg.replaceAll("'", "'\\''")}'`;

function terminal(args: string[], env: NodeJS.ProcessEnv = {}): Terminal {
  // `exec`, so the tool is the terminal's foreground process itself: a shell left waiting in
  // between (dash, when SHELL is unset) would die of the same Ctrl-C and report 130.
  const command = `exec ${[process.execPath, ferryBin, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, SHELL: '/bin/sh', FERRY_PASSWORD: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString();
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    screen: () => screen,
    type: (text) => void child.stdin.write(text),
    exited,
    shows(pattern) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(screen)) resolve();
          else waiters.push(check);
        };
        check();
        void exited.then(() => (pattern.test(screen) ? resolve() : reject(new Error(`the terminal never showed ${pattern}: ${JSON.stringify(screen)}`))));
      });
    },
  };
}

let broker: SecureBroker;
let url: string;
before(async () => {
  broker = await startSecureBroker();
  url = `http://127.0.0.1:${broker.server.ports['http']}`;
});
after(() => broker.stop());

test('the password is asked on the terminal and not echoed', async () => {
  const t = terminal(['dstat', '--url', url, '--user', 'admin']);
  await t.shows(/password for admin: /);
  t.type('admin-secret\r');
  assert.equal(await t.exited, 0, t.screen());
  assert.ok(!t.screen().includes('admin-secret'), `the password is not shown: ${JSON.stringify(t.screen())}`);
  assert.match(t.screen(), /kind\s+name\s+depth\s+in flight/);
});

test('dstat --watch draws over its last drawing and stops on Ctrl-C', async () => {
  const name = uniqueName('tty.watched');
  const { raw } = await RawStompClient.connected(broker.stompPort, { login: 'admin', passcode: 'admin-secret' });
  try {
    await raw.sendWithReceipt('SEND', { destination: `/queue/${name}` }, 'one');
    const t = terminal(['dstat', '--watch', '1', '--filter', name, '--url', url, '--user', 'admin'], { FERRY_PASSWORD: 'admin-secret' });
    await t.shows(new RegExp(`${name.replaceAll('.', '\\.')}\\s+1\\s`));
    await raw.sendWithReceipt('SEND', { destination: `/queue/${name}` }, 'two');
    // the cursor goes up over the header, the table and the row, and the rest is cleared
    await t.shows(new RegExp(`\\x1b\\[3A\\r\\x1b\\[J[^\\n]*\\n[^\\n]*\\n[^\\n]*${name.replaceAll('.', '\\.')}\\s+2\\s`));
    t.type('\x03');
    assert.equal(await t.exited, 0, t.screen());
  } finally {
    raw.destroy();
  }
});

test('bench shows a progress line with rates, then clears it for the summary', async () => {
  const t = terminal(['bench', '--url', `stomp://127.0.0.1:${broker.stompPort}`, '--user', 'admin', '--messages', '2000', '--persistent', '--destination', uniqueName('tty.bench')], { FERRY_PASSWORD: 'admin-secret' });
  assert.equal(await t.exited, 0, t.screen());
  assert.match(t.screen(), /\r\x1b\[K\d+ s {2}sent 2000 \(\d+\/s\) {2}received 2000 \(\d+\/s\)/);
  assert.match(t.screen(), /\r\x1b\[Kstomp to queue:\/\/tty\.bench\.\S+: 1 producer, 1 consumer/);
  assert.match(t.screen(), /received {2}2000 of 2000/);
});
