import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ConfigValue } from '../../src/config/index.js';
import { defaultConsoleDirectory } from '../../src/management/static.js';
import { startSecureBroker, type SecureBroker } from '../helpers/security.js';
import { connectMqtt } from '../helpers/mqtt.js';
import { connectStomp, type StompTestClient } from '../helpers/stomp.js';

// The web console in Debian's headless Chromium against a real broker with security on: an admin
// creates a queue, sends from the form, browses, moves, retries a dead letter and closes a client's
// connection; a monitor-only user is offered none of that. Each page is kept as a screenshot in
// test-artifacts/console/.

const chromiumPath = '/usr/bin/chromium';
const repo = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const artifacts = repo('test-artifacts/console');

const missing = !existsSync(chromiumPath)
  ? `${chromiumPath} is missing (apt-get install chromium); .ci/run installs it`
  : !existsSync(`${defaultConsoleDirectory}/index.html`)
  ? `the console is not built in ${defaultConsoleDirectory} (npm run build)`
  : undefined;
if (missing !== undefined) {
  console.warn(`\n*** SKIPPING the console tests: ${missing} ***\n`);
  if (process.env['CI'] !== undefined) throw new Error(`console test prerequisites missing in CI: ${missing}`);
}

const USERS = {
  admin: { password: 'admin-secret', groups: ['admins'] },
  watcher: { password: 'watcher-secret', groups: ['monitors'] },
  worker: { password: 'worker-secret', groups: ['workers'] },
};
const everything = { read: ['admins'], write: ['admins'], create: ['admins'], browse: ['admins'], admin: ['admins'] };
const RIGHTS: ConfigValue = [
  { queue: '>', ...everything, browse: ['admins', 'monitors'] },
  { topic: '>', ...everything },
  { temporary: true, ...everything },
  { queue: 'console.>', read: ['workers'], write: ['workers'], create: ['workers'] },
  { topic: 'console.>', read: ['workers'], write: ['workers'], create: ['workers'] },
  { topic: '$SYS.>', read: ['workers'] },
];

// dead-letter queues named by policy, not by ActiveMQ's default names
const POLICIES: ConfigValue = [
  { match: 'console.failing.>', deadLetterQueue: 'failed.console' },
  { match: 'console.custom.>', individualDeadLetter: true, individualDeadLetterPrefix: 'dead.' },
];

let broker: SecureBroker;
let base: string;
let browser: Browser;
let admin: { context: BrowserContext; page: Page };
const pageErrors: string[] = [];
const clients: StompTestClient[] = [];

async function worker(headers: Record<string, string> = {}): Promise<StompTestClient> {
  const c = await connectStomp(broker.stompPort, { headers: { login: 'worker', passcode: USERS.worker.password, ...headers } });
  clients.push(c);
  return c;
}

/** The API as a script sees it, to check what the console did against the broker itself. */
async function api<T>(method: string, path: string, json?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Basic ${Buffer.from(`admin:${USERS.admin.password}`).toString('base64')}` };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

async function openConsole(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (m) => {
    // Chromium logs each answer it counts as failed: the first whoami without credentials (401) and
    // the refusal the move test provokes (400); the console shows both in place
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 40[01]/.test(m.text())) pageErrors.push(m.text());
  });
  return { context, page };
}

async function logIn(page: Page, user: keyof typeof USERS): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(USERS[user].password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/** Goes to a page of the console the way a click on a link does (no reload: the session stays). */
async function go(page: Page, path: string): Promise<void> {
  // page.evaluate runs in the page; this file is compiled without the DOM's types
  await page.evaluate((p) => {
    const w = globalThis as unknown as { history: { pushState(s: null, t: string, u: string): void }; dispatchEvent(e: unknown): void; PopStateEvent: new (type: string) => unknown };
    w.history.pushState(null, '', p);
    w.dispatchEvent(new w.PopStateEvent('popstate'));
  }, path);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
}

before(async () => {
  if (missing !== undefined) return;
  mkdirSync(artifacts, { recursive: true });
  broker = await startSecureBroker({ users: USERS, authorization: RIGHTS, settings: { 'destinations.policies': POLICIES } });
  base = `http://127.0.0.1:${broker.server.ports['http']!}`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  admin = await openConsole();
});

after(async () => {
  await Promise.all(clients.map((c) => c.disconnect().catch(() => undefined)));
  await browser?.close();
  await broker?.stop();
});

describe('the web console in headless Chromium', { skip: missing }, () => {
  test('a wrong password is refused in place; the right one opens the overview with live figures', { timeout: 60_000 }, async () => {
    const { page } = admin;
    await page.goto(`${base}/`);
    await page.getByLabel('User').waitFor();
    await shot(page, '01-login');
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /password|user|authenticat/i);

    await logIn(page, 'admin');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // a rate needs two samples: the line appears with the second poll
    await page.locator('.series-teal .chart-line').waitFor({ state: 'attached' });
    const connections = await page.locator('.stat', { hasText: 'Connections' }).locator('.stat-value').textContent();
    assert.equal(connections, '0');
    await shot(page, '02-overview');
  });

  test('the overview counts neither the broker\'s own $SYS publications nor empty queues', { timeout: 60_000 }, async () => {
    const { page } = admin;
    // an MQTT client sets off the $SYS statistics and reads one: the broker's figures, not traffic
    const mqtt = await connectMqtt(broker.mqttPort, { username: 'worker', password: USERS.worker.password });
    // the connection test below finds the move test's consumer as the first connection listed: this one goes
    const producer = await connectStomp(broker.stompPort, { headers: { login: 'worker', passcode: USERS.worker.password } });
    try {
      await mqtt.subscribe('$SYS/broker/uptime');
      assert.match((await mqtt.inbox.next(5000)).payload, /seconds/);
      assert.equal((await api('POST', '/destinations', { kind: 'queue', name: 'console.idle' })).status, 201);
      for (const body of ['one', 'two']) await producer.sendConfirmed('/queue/console.waiting', body);
      await go(page, '/');
      const stat = (label: string) => page.locator('.stat', { hasText: label });
      await stat('Waiting').locator('.stat-value').filter({ hasText: /^2$/ }).waitFor();
      const detail = (label: string) => stat(label).locator('.stat-detail').textContent();
      // two queues, one of them empty: the two messages wait in one
      assert.deepEqual(
        { in: await detail('Messages in'), out: await detail('Messages out'), waiting: await detail('Waiting') },
        { in: '2 since start', out: '0 since start', waiting: 'in 1 queue' },
      );
      await shot(page, '02b-overview-waiting');
    } finally {
      await Promise.all([mqtt.end(), producer.disconnect()]);
    }
    for (const queue of ['console.idle', 'console.waiting']) assert.equal((await api('DELETE', `/destinations/queue/${queue}`)).status, 204);
  });

  test('creates a queue from the destinations page', { timeout: 60_000 }, async () => {
    const { page } = admin;
    await go(page, '/destinations');
    await page.getByRole('button', { name: 'New queue' }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('console.orders');
    await page.getByRole('button', { name: 'Create queue' }).click();
    await page.waitForURL(`${base}/queues/console.orders`);
    await page.getByText('No messages waiting').waitFor();
    const created = await api<{ name: string; depth: number }>('GET', '/destinations/queue/console.orders');
    assert.equal(created.status, 200);
    assert.equal(created.body.depth, 0);

    await go(page, '/destinations');
    await page.locator('.vrow', { hasText: 'console.orders' }).waitFor();
    await shot(page, '03-destinations');
  });

  test('sends a message from the form with typed properties and sees it whole in the queue browser', { timeout: 60_000 }, async () => {
    const { page } = admin;
    await go(page, '/queues/console.orders');
    await page.getByRole('button', { name: 'Send message' }).click();
    await page.waitForURL(/\/send\?to=/);
    assert.equal(await page.getByLabel('Destination').inputValue(), 'queue://console.orders');
    await page.getByLabel('Body', { exact: true }).fill('{"order": 7, "status": "paid"}');
    await page.getByLabel('Type').fill('OrderPaid');
    await page.getByRole('button', { name: 'Add property' }).click();
    await page.getByLabel('Property 1 name').fill('region');
    await page.getByLabel('Property 1 value').fill('eu');
    await page.getByRole('button', { name: 'Add property' }).click();
    await page.getByLabel('Property 2 name').fill('amount');
    await page.getByLabel('Property 2 type').selectOption('int');
    await page.getByLabel('Property 2 value').fill('42');
    await shot(page, '04-send');
    await page.getByRole('button', { name: 'Send message' }).last().click();
    await page.getByText('Sent as').waitFor();

    await page.getByRole('link', { name: 'Open console.orders' }).click();
    const row = page.locator('table.messages tbody tr');
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    assert.match((await row.textContent()) ?? '', /OrderPaid/);
    await row.locator('td.mono').click();
    const panel = page.getByLabel('Message', { exact: true });
    await panel.locator('.body-view').waitFor();
    assert.deepEqual(JSON.parse((await panel.locator('.body-view').textContent()) ?? ''), { order: 7, status: 'paid' });
    const properties = (await panel.locator('table').textContent()) ?? '';
    assert.match(properties, /region\s*string\s*eu/);
    assert.match(properties, /amount\s*int\s*42/);
    await panel.getByRole('tab', { name: 'Hex' }).click();
    assert.match((await panel.locator('.body-view').textContent()) ?? '', /^00000000 {2}7b 22 6f 72 64 65 72 22/);
    await panel.getByRole('tab', { name: 'JSON' }).click();
    await shot(page, '05-queue');
  });

  test('a Priority field left empty sends the default priority, 4, not 0', { timeout: 60_000 }, async () => {
    const { page } = admin;
    await go(page, `/send?to=${encodeURIComponent('queue://console.blank')}`);
    await page.getByLabel('Body', { exact: true }).fill('no priority given');
    await page.getByLabel('Priority').fill('');
    await page.getByRole('button', { name: 'Send message' }).last().click();
    await page.getByText('Sent as').waitFor();
    const waiting = await api<{ items: { priority: number }[] }>('GET', '/queues/console.blank/messages');
    assert.deepEqual(waiting.body.items.map((m) => m.priority), [4]);
    await go(page, '/queues/console.orders');
  });

  test('a selector the broker refuses shows its error alone, without a list or "No message matches"', { timeout: 60_000 }, async () => {
    const { page } = admin;
    const selector = page.getByLabel('Selector');
    const rows = page.locator('table.messages tbody tr');
    await rows.first().waitFor();
    await selector.fill("region = 'us'");
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('No message matches the selector').waitFor();
    await selector.fill("region = 'eu");
    await page.getByRole('button', { name: 'Apply' }).click();
    const alert = page.locator('.browser').getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /selector error at column \d+: string literal is not closed/);
    assert.equal(await page.getByText('No message matches the selector').count(), 0, 'the answer of the selector before is shown beside the error');
    assert.equal(await rows.count(), 0);
    // nor are actions offered on what that selector would pick
    assert.equal(await page.locator('.browser .card-actions').getByRole('button', { name: 'Move…' }).isDisabled(), true);
    await shot(page, '05c-selector-refused');
    // and a list it had shown before (the unfiltered one) does not stand for its answer either
    await page.getByRole('button', { name: 'Clear' }).click();
    await rows.first().waitFor();
    await selector.fill("region = 'eu");
    await page.getByRole('button', { name: 'Apply' }).click();
    await alert.waitFor();
    assert.equal(await rows.count(), 0, 'the unfiltered list is shown beside the error');
    await page.getByRole('button', { name: 'Clear' }).click();
    await rows.first().waitFor();
  });

  test('moves the message to another queue, where a STOMP client receives it', { timeout: 60_000 }, async () => {
    const { page } = admin;
    await page.locator('table.messages tbody tr input[type=checkbox]').check();
    await page.locator('.browser .card-actions').getByRole('button', { name: 'Move…' }).click();
    // the broker's refusal is shown in the dialog, which stays open to be corrected
    await page.getByLabel('To', { exact: true }).fill('console.*');
    await page.getByRole('dialog').getByRole('button', { name: 'Move' }).click();
    await page.getByRole('dialog').getByRole('alert').waitFor();
    assert.match((await page.getByRole('dialog').getByRole('alert').textContent()) ?? '', /wildcard|console\.\*/);
    await shot(page, '05b-move-refused');
    await page.getByLabel('To', { exact: true }).fill('console.moved');
    await page.getByRole('dialog').getByRole('button', { name: 'Move' }).click();
    await page.getByRole('status').filter({ hasText: '1 message moved to queue://console.moved' }).waitFor();
    await page.getByText('No messages waiting').waitFor();

    const client = await worker();
    const inbox = client.subscribe('/queue/console.moved');
    const moved = await inbox.next(5000);
    assert.equal(moved.body, '{"order": 7, "status": "paid"}');
    assert.equal(moved.headers['region'], 'eu');
    const left = await api<{ depth: number }>('GET', '/destinations/queue/console.orders');
    assert.equal(left.body.depth, 0);
  });

  test('lists a queue\'s consumers with their client id, protocol, user, selector, prefetch and in-flight count', { timeout: 60_000 }, async () => {
    const { page } = admin;
    const producer = await worker();
    for (let i = 0; i < 4; i++) await producer.sendConfirmed('/queue/console.staff.jobs', `job ${i}`, { n: String(i) });
    const consumer = await worker({ 'client-id': 'console-staff-1' });
    const inbox = consumer.subscribe('/queue/console.staff.jobs', { ack: 'client-individual', selector: 'n >= 1', 'activemq.prefetchSize': '2' });
    await inbox.take(2);
    // a consumer on a pattern takes from the queue too, and is listed under its pattern
    const wildcard = consumer.subscribe('/queue/console.staff.*', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
    await wildcard.take(1);

    await go(page, '/queues/console.staff.jobs');
    const row = page.locator('table.consumers tbody tr', { hasText: 'console-staff-1' });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.deepEqual(cells.slice(1, 8), ['stomp', cells[2]!, 'worker', 'n >= 1', '2', '2', '2']);
    assert.match(cells[2]!, /^127\.0\.0\.1:\d+$/);
    await page.getByText('1 more consumer takes from this queue through a wildcard pattern').waitFor();
    await shot(page, '05d-queue-consumers');

    inbox.subscription.unsubscribe();
    wildcard.subscription.unsubscribe();
    await page.getByText('No consumers').waitFor();
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
    assert.equal((await api('DELETE', '/destinations/queue/console.staff.jobs')).status, 204);
    await go(page, '/queues/console.orders');
  });

  test('pauses and resumes a queue\'s dispatch', { timeout: 60_000 }, async () => {
    const { page } = admin;
    await page.getByRole('button', { name: 'Pause dispatch' }).click();
    await page.getByRole('button', { name: 'Resume dispatch' }).waitFor();
    await page.getByRole('heading', { name: /console\.orders/ }).getByText('paused').waitFor();
    assert.equal((await api<{ paused: boolean }>('GET', '/destinations/queue/console.orders')).body.paused, true);
    await page.getByRole('button', { name: 'Resume dispatch' }).click();
    await page.getByRole('button', { name: 'Pause dispatch' }).waitFor();
    assert.equal((await api<{ paused: boolean }>('GET', '/destinations/queue/console.orders')).body.paused, false);
  });

  test('retries a dead letter that a STOMP client NACKed back to its queue', { timeout: 60_000 }, async () => {
    const { page } = admin;
    const client = await worker();
    // persistent: a non-persistent message that fails is dropped, not dead-lettered (ActiveMQ's default)
    await client.sendConfirmed('/queue/console.jobs', 'job-1', { 'job-kind': 'invoice', persistent: 'true' });
    const inbox = client.subscribe('/queue/console.jobs', { ack: 'client-individual' });
    const first = await inbox.next(5000);
    first.nack();

    await go(page, '/dead-letters');
    const row = page.locator('table.messages tbody tr', { hasText: 'queue://console.jobs' });
    await row.waitFor();
    await shot(page, '06-dead-letters');
    await row.locator('td.mono').first().click();
    await page.getByLabel('Message', { exact: true }).getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('status').filter({ hasText: '1 message sent back to its original destination' }).waitFor();

    const again = await inbox.next(5000);
    assert.equal(again.body, 'job-1');
    assert.equal(again.headers['job-kind'], 'invoice');
    again.ack();
  });

  test('finds the dead-letter queues its policies name, and marks them on their queue pages', { timeout: 60_000 }, async () => {
    const { page } = admin;
    const client = await worker();
    for (const queue of ['console.custom.orders', 'console.failing.job']) {
      await client.sendConfirmed(`/queue/${queue}`, `${queue} body`, { persistent: 'true' });
      const inbox = client.subscribe(`/queue/${queue}`, { ack: 'client-individual' });
      (await inbox.next(5000)).nack();
      inbox.subscription.unsubscribe();
    }
    const listed = await api<{ items: { name: string; deadLetter: boolean }[] }>('GET', '/destinations?kind=queue&deadLetter=true&limit=1000');
    for (const name of ['dead.console.custom.orders', 'failed.console']) assert.ok(listed.body.items.some((d) => d.name === name && d.deadLetter), name);
    assert.ok(!listed.body.items.some((d) => d.name.startsWith('console.')));

    await go(page, '/dead-letters');
    const queues = page.getByRole('tablist', { name: 'Dead-letter queues' });
    for (const [queue, from] of [['dead.console.custom.orders', 'console.custom.orders'], ['failed.console', 'console.failing.job']] as const) {
      await queues.getByRole('tab', { name: new RegExp(queue.replace(/\./g, '\\.')) }).click();
      await page.locator('table.messages tbody tr', { hasText: `queue://${from}` }).waitFor();
    }
    await shot(page, '06b-dead-letters-by-policy');
    await go(page, `/queues/${encodeURIComponent('dead.console.custom.orders')}`);
    await page.locator('.badge', { hasText: 'dead letters' }).waitFor();
    await page.locator('table.messages thead th', { hasText: 'From' }).waitFor();
    // the store page's test lists what keeps the journal's files, 20 records a file: these are done with
    for (const queue of ['console.custom.orders', 'console.failing.job', 'dead.console.custom.orders', 'failed.console']) {
      assert.equal((await api('DELETE', `/destinations/queue/${encodeURIComponent(queue)}`)).status, 204, queue);
    }
  });

  test('closes a STOMP client connection; the client sees its socket closed', { timeout: 60_000 }, async () => {
    const { page } = admin;
    const client = await worker({ 'client-id': 'console-closed-client' });
    let closed = false;
    void client.closed.then(() => (closed = true));
    await go(page, '/connections');
    const row = page.locator('tr', { hasText: 'console-closed-client' });
    await row.waitFor();
    // a connection's sessions, consumers and producers open under its row: the move test's consumer is there
    const consuming = page.locator('tr[data-connection]').filter({ hasNotText: 'console-closed-client' }).first();
    await consuming.click();
    await page.locator('.detail-row td.mono', { hasText: 'queue://console.moved' }).waitFor();
    // and its sessions, each with its consumers
    const session = page.locator('.detail-row tr[data-session]').first();
    await session.waitFor();
    assert.match((await session.locator('td').first().textContent()) ?? '', /:\d+$/);
    await shot(page, '07-connections');
    await row.getByRole('button', { name: 'Close' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Close connection' }).click();
    await client.closed;
    assert.equal(closed, true);
    await row.waitFor({ state: 'detached' });
  });

  test('shows durable subscriptions, scheduled messages and the journal files with what keeps each', { timeout: 60_000 }, async () => {
    const { page } = admin;
    const durable = await worker({ 'client-id': 'console-durable' });
    durable.subscribe('/topic/console.prices', { 'activemq.subscriptionName': 'prices' });
    await durable.sendConfirmed('/queue/console.later', 'later', { AMQ_SCHEDULED_DELAY: '3600000', persistent: 'true' });
    await durable.sendConfirmed('/queue/console.kept', 'kept on disk', { persistent: 'true' });

    await go(page, '/subscriptions');
    await page.locator('tr', { hasText: 'console-durable' }).filter({ hasText: 'prices' }).waitFor();
    await shot(page, '08-subscriptions');

    await go(page, '/topics/console.prices');
    await page.locator('tr', { hasText: 'console-durable' }).waitFor();
    await shot(page, '08b-topic');

    await go(page, '/scheduled');
    await page.locator('tr', { hasText: 'console.later' }).waitFor();
    await shot(page, '09-scheduled');

    await go(page, '/store');
    await page.locator('.segment').first().waitFor();
    await page.locator('.keepers', { hasText: 'console.kept' }).first().waitFor();
    await shot(page, '10-store');

    // the report names 20 records a file: the page says how many more keep it, so that its counts read as a sample's
    const many = await worker({});
    for (let i = 0; i < 25; i++) await many.sendConfirmed('/queue/console.many', `m${i}`, { persistent: 'true' });
    await go(page, '/scheduled');
    await go(page, '/store');
    const segment = page.locator('.segment', { hasText: 'more live records, not named' }).first();
    await segment.waitFor();
    const live = Number(/([\d,]+) live records?/.exec((await segment.locator('.segment-head').textContent()) ?? '')![1]!.replace(/,/g, ''));
    const shown = /and ([\d,]+) more live records, not named/.exec((await segment.locator('.keepers').textContent()) ?? '')![1]!;
    assert.equal(Number(shown.replace(/,/g, '')), live - 20);
    assert.equal((await api('DELETE', `/destinations/queue/${encodeURIComponent('console.many')}`)).status, 204);
  });

  test('a monitor-only user sees the broker but is offered no action', { timeout: 60_000 }, async () => {
    const watcher = await openConsole();
    const { page } = watcher;
    try {
      await logIn(page, 'watcher');
      await page.getByText('read only').waitFor();
      assert.equal(await page.getByRole('link', { name: 'Send message' }).count(), 0);

      await go(page, '/destinations');
      await page.locator('.vrow', { hasText: 'console.moved' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'New queue' }).count(), 0);

      // a queue with a message waiting, so that the list's rows are there to be offered actions
      await go(page, '/queues/console.kept');
      await page.getByRole('heading', { name: 'console.kept' }).waitFor();
      await page.locator('table.messages tbody tr').first().waitFor();
      for (const name of ['Purge', 'Delete queue', 'Pause dispatch', 'Send message', 'Move…', 'Copy…', 'Retry', 'Delete']) {
        assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `a monitor is offered ${name}`);
      }
      assert.equal(await page.locator('input[type=checkbox]').count(), 0);
      await shot(page, '11-monitor-queue');

      await go(page, '/connections');
      await page.getByRole('heading', { name: 'Connections' }).waitFor();
      await page.locator('table.connections, .empty').first().waitFor();
      assert.equal(await page.getByRole('button', { name: 'Close' }).count(), 0);

      await go(page, '/subscriptions');
      await page.locator('tr', { hasText: 'console-durable' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0);
      await shot(page, '12-monitor-subscriptions');

      // what is not offered is not reachable by its address either
      await go(page, '/send');
      await page.getByText('Nothing here').waitFor();
    } finally {
      await watcher.context.close();
    }
  });

  test('the overview charts the traffic of STOMP clients', { timeout: 60_000 }, async () => {
    const { page } = admin;
    await go(page, '/');
    const producer = await worker();
    const consumer = await worker();
    const inbox = consumer.subscribe('/queue/console.traffic');
    for (let i = 0; i < 200; i++) await producer.sendConfirmed('/queue/console.traffic', `tick ${i}`);
    await inbox.take(200);
    // a poll after the burst counts the 200 in, and its rate is above zero
    await page.locator('.stat', { hasText: 'Messages in' }).locator('.stat-detail').filter({ hasText: /^2\d\d since start/ }).waitFor();
    await page.locator('.legend', { hasText: 'in' }).locator('b').filter({ hasNotText: /^0$/ }).waitFor();
    const connections = await page.locator('.stat', { hasText: 'Connections' }).locator('.stat-value').textContent();
    assert.ok(Number(connections) >= 2, `connections shown: ${connections}`);
    await shot(page, '13-overview-traffic');
  });

  test('with 10,000 queues the destinations table holds only the rows in view and pages, filters and sorts through the broker', { timeout: 120_000 }, async () => {
    const { page } = admin;
    for (let i = 0; i < 10_000; i++) broker.server.broker.admin.createDestination('queue', `bulk.${String(i).padStart(5, '0')}`);
    await go(page, '/destinations');
    await page.getByLabel('Filter by name').fill('bulk.');
    await page.getByText('10,000 queues').waitFor();
    await page.locator('.vrow', { hasText: 'bulk.00000' }).waitFor();
    const rendered = await page.locator('.vrow').count();
    assert.ok(rendered > 10 && rendered < 80, `${rendered} rows in the DOM`);

    await page.locator('.vscroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.locator('.vrow', { hasText: 'bulk.09999' }).waitFor();
    assert.ok((await page.locator('.vrow').count()) < 80);
    await shot(page, '14-destinations-10000');

    await page.getByRole('button', { name: /^Name/ }).click();
    await page.locator('.vrow').first().filter({ hasText: 'bulk.09999' }).waitFor();
    await page.getByLabel('Filter by name').fill('bulk.0042?');
    await page.getByText('10 queues').waitFor();
    assert.equal(await page.locator('.vrow').count(), 10);
    assert.match((await page.locator('.vrow').first().textContent()) ?? '', /bulk\.00429/);
  });

  test('behind a reverse proxy that rewrites Host, as nginx\'s plain proxy_pass does, purges a queue', { timeout: 60_000 }, async () => {
    const upstream = broker.server.ports['http']!;
    const proxy = createServer((req, res) => {
      const forwarded = httpRequest({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${upstream}` } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forwarded.on('error', () => res.destroy());
      req.pipe(forwarded);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxied = `http://localhost:${(proxy.address() as AddressInfo).port}`;
    const producer = await worker();
    for (let i = 0; i < 3; i++) await producer.sendConfirmed('/queue/console.proxied', `m${i}`);
    const { context, page } = await openConsole();
    try {
      await page.goto(`${proxied}/`);
      await page.getByLabel('User').fill('admin');
      await page.getByLabel('Password').fill(USERS.admin.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('navigation', { name: 'Main' }).waitFor();
      await go(page, '/queues/console.proxied');
      await page.getByRole('button', { name: 'Purge', exact: true }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Purge' }).click();
      await page.getByRole('status').filter({ hasText: '3 messages purged from console.proxied' }).waitFor();
      assert.equal((await api<{ depth: number }>('GET', '/destinations/queue/console.proxied')).body.depth, 0);
    } finally {
      await context.close();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  test('the pages ran with no script error and no Content-Security-Policy refusal', () => {
    assert.deepEqual(pageErrors, []);
  });
});
