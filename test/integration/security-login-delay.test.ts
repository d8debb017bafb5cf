/**
 * The failed-login delay seen from real clients: @stomp/stompjs over WebSocket, as a browser logs
 * in, with many logins from one address opened at once. The delay's clock and sleep are driven by
 * the test, so what is checked before a wait ends is counted, never timed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@stomp/stompjs';
import { WebSocket } from 'ws';
import { silentLogger, type ConnectRequest, type Principal } from '../../src/core/index.js';
import { SecurityAuthenticator } from '../../src/security/authenticator.js';
import { LoginDelay } from '../../src/security/login-delay.js';
import { UsersFileDirectory } from '../../src/security/users-file.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/raw-stomp.js';
import { writeUsers } from '../helpers/security.js';
import { stompSubprotocols } from '../helpers/ws.js';

/** The delay's clock and sleep: time moves only when the test ends the earliest wait. */
class DrivenTime {
  now = 1_000_000;
  readonly sleepers: { until: number; resolve: () => void }[] = [];
  readonly clock = (): number => this.now;
  readonly sleep = (ms: number): Promise<void> => new Promise((resolve) => this.sleepers.push({ until: this.now + ms, resolve }));

  /** Moves the clock to the earliest wait's end and ends every wait due by then. */
  endEarliestWait(): void {
    this.now = Math.max(this.now, Math.min(...this.sleepers.map((s) => s.until)));
    for (const s of this.sleepers.filter((s) => s.until <= this.now)) {
      this.sleepers.splice(this.sleepers.indexOf(s), 1);
      s.resolve();
    }
  }
}

/** The users file, whose password checks wait until the test opens the gate, counted. */
class GatedUsersFile extends UsersFileDirectory {
  checks = 0;
  private opened = false;
  private readonly waiting: (() => void)[] = [];

  open(): void {
    this.opened = true;
    for (const resume of this.waiting.splice(0)) resume();
  }

  override async verify(username: string, password: string): ReturnType<UsersFileDirectory['verify']> {
    this.checks++;
    if (!this.opened) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.verify(username, password);
  }
}

/** Counts the logins that have reached it, so the test knows when all it sent have. */
class CountingAuthenticator extends SecurityAuthenticator {
  arrived = 0;

  override authenticate(request: ConnectRequest): Promise<Principal> {
    this.arrived++;
    return super.authenticate(request);
  }
}

let broker: TestBroker;
let time: DrivenTime;
let users: GatedUsersFile;
let authenticator: CountingAuthenticator;
before(async () => {
  time = new DrivenTime();
  const path = await writeUsers(mkdtempSync(join(tmpdir(), 'ferry-login-delay-')), { alice: { password: 'alice-secret' }, mallory: { password: 'mallory-secret' } });
  users = new GatedUsersFile(path, silentLogger, { watch: false });
  authenticator = new CountingAuthenticator({
    directories: [users],
    loginDelay: new LoginDelay({ initial: 200, max: 10_000, forgetAfter: 600_000, clock: time.clock, sleep: time.sleep }),
    logger: silentLogger,
  });
  broker = await startBroker({}, { authenticator });
});
after(() => broker.stop());

type Outcome = 'accepted' | 'refused';

/** Logs in over STOMP on WebSocket; resolves when the broker has answered CONNECTED or ERROR. */
function login(user: string, password: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const client = new Client({
      webSocketFactory: () => new WebSocket(`ws://127.0.0.1:${broker.wsPort}/stomp`, stompSubprotocols),
      connectHeaders: { host: 'localhost', login: user, passcode: password },
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      debug: () => {},
    });
    client.onConnect = () => {
      resolve('accepted');
      void client.deactivate();
    };
    client.onStompError = () => {
      resolve('refused');
      void client.deactivate();
    };
    client.activate();
  });
}

describe('failed-login delay over STOMP on WebSocket', () => {
  test('wrong passwords sent at once from one address are not all checked before the delay: two are, then one per turn', async () => {
    const outcomes: Outcome[] = [];
    const guesses = Array.from({ length: 8 }, (_, i) => login('alice', `guess-${i}`).then((o) => void outcomes.push(o)));
    // every guess has reached the broker before the first is judged
    await eventually('all guesses at the broker', () => authenticator.arrived === 8 && users.checks >= 1, 10_000);
    users.open();
    // either two were answered and the next waits for its turn, or (nothing holding them) all were
    await eventually('two answered and a guess waiting, or all answered', () => (outcomes.length >= 2 && time.sleepers.length > 0) || outcomes.length === 8, 10_000);
    assert.equal(outcomes.length, 2, 'guesses checked before any waited (two at once, before a failure was known)');
    assert.deepEqual(outcomes, ['refused', 'refused']);
    const waits: number[] = [];
    for (let answered = 3; answered <= 8; answered++) {
      await eventually(`guess ${answered} waiting for its turn`, () => time.sleepers.length > 0);
      waits.push(Math.min(...time.sleepers.map((s) => s.until)) - time.now);
      time.endEarliestWait();
      await eventually(`guess ${answered} answered`, () => outcomes.length >= answered, 10_000);
      assert.equal(outcomes.length, answered, 'one guess checked per turn');
    }
    await Promise.all(guesses);
    assert.ok(outcomes.every((o) => o === 'refused'));
    // every further guess waited, and the waits grew as the failures did
    assert.ok(waits.every((w) => w > 0), `waits: ${waits.join(', ')}`);
    assert.ok(waits.at(-1)! > waits[0]!, `waits: ${waits.join(', ')}`);
    // the right password still waits its turn behind those failures, and is then accepted
    const right = login('alice', 'alice-secret');
    await eventually('the right password waiting for its turn', () => time.sleepers.length > 0);
    time.endEarliestWait();
    assert.equal(await right, 'accepted');
  });

  test("logging in as one's own user between guesses at another's password does not clear that user's failures", async () => {
    // the earlier test ended with alice's own success: no failure is left at the address
    assert.equal(await login('alice', 'wrong-1'), 'refused');
    const own = login('mallory', 'mallory-secret');
    await eventually("mallory's login waiting for its turn", () => time.sleepers.length > 0);
    time.endEarliestWait();
    assert.equal(await own, 'accepted');
    let answered = false;
    const next = login('alice', 'wrong-2').then((o) => ((answered = true), o));
    await eventually('the next guess at alice waiting, or answered', () => time.sleepers.length > 0 || answered, 10_000);
    assert.equal(answered, false, "the next guess at alice's password was checked without waiting: mallory's success cleared alice's failure");
    time.endEarliestWait();
    assert.equal(await next, 'refused');
  });
});
