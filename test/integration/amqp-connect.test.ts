import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { AMQP_HEADER, SASL_HEADER, closeCondition, connectAmqp, frame, frames, rawAmqp, readFrames } from '../helpers/amqp.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker({ 'amqp.idleTimeout': 150, 'amqp.openTimeout': 300 });
});
after(async () => {
  await broker.stop();
});

describe('SASL', () => {
  test('ANONYMOUS (rhea\'s default with a user name and no password)', async () => {
    const c = await connectAmqp(broker.amqpPort, { username: 'anyone' });
    assert.equal(c.connection.is_open(), true);
    await c.close();
  });

  test('PLAIN with any user and password, until security lands', async () => {
    const c = await connectAmqp(broker.amqpPort, { username: 'alice', password: 'secret' });
    assert.equal(c.connection.is_open(), true);
    await c.close();
  });

  test('no SASL layer at all', async () => {
    const c = await connectAmqp(broker.amqpPort);
    assert.equal(c.connection.is_open(), true);
    await c.close();
  });

  test('the broker offers ANONYMOUS and PLAIN', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(SASL_HEADER);
    const bytes = await raw.waitFor(16);
    assert.deepEqual(bytes.subarray(0, 8), SASL_HEADER);
    const mechanisms = readFrames(bytes)[0]?.fields['sasl_server_mechanisms'];
    assert.deepEqual([mechanisms].flat().sort(), ['ANONYMOUS', 'PLAIN']);
    raw.socket.destroy();
  });
});

describe('open', () => {
  test('the broker\'s open names the product and its limits', async () => {
    const c = await connectAmqp(broker.amqpPort);
    const open = c.connection.remote.open!;
    assert.equal(open.properties?.['product'], 'Ferry');
    assert.equal(open.max_frame_size, 256 * 1024);
    assert.equal(open.idle_time_out, 150);
    await c.close();
  });

  test('a client that does not open in time is disconnected', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(AMQP_HEADER);
    const started = Date.now();
    await raw.closed;
    assert.ok(Date.now() - started >= 250, 'not before amqp.openTimeout');
  });

  test('a container id asked to be the sole connection is refused a second one', async () => {
    const options = { container_id: `sole-${Date.now()}`, desired_capabilities: ['sole-connection-for-container'] };
    const first = await connectAmqp(broker.amqpPort, options);
    const second = await connectAmqp(broker.amqpPort, options);
    const error = await second.closed;
    assert.equal(error?.condition, 'amqp:invalid-field');
    assert.equal((error?.info as Record<string, unknown> | undefined)?.['invalid-field'], 'container-id');
    await first.close();
    const again = await connectAmqp(broker.amqpPort, options);
    await again.close();
  });

  test('connections sharing a container id without that capability coexist', async () => {
    const options = { container_id: `shared-${Date.now()}` };
    const a = await connectAmqp(broker.amqpPort, options);
    const b = await connectAmqp(broker.amqpPort, options);
    assert.equal(a.connection.is_open() && b.connection.is_open(), true);
    await a.close();
    await b.close();
  });
});

describe('idle time-out', () => {
  // [AMQP 2.4.5] the broker announces half its real limit: a client is closed once nothing has come
  // from it for twice amqp.idleTimeout, counted from its last frame. The silence is measured in
  // periods of the idle-time-out, so the bounds say "two periods", not a number of milliseconds.
  const IDLE = 400;
  let idleBroker: TestBroker;
  before(async () => {
    idleBroker = await startBroker({ 'amqp.idleTimeout': IDLE });
  });
  after(async () => {
    await idleBroker.stop();
  });

  /** Periods of the idle-time-out from the client's last frame to the end of its connection, and the close's condition and text. */
  async function silenceUntilClosed(raw: Awaited<ReturnType<typeof rawAmqp>>, lastWrite: number): Promise<{ periods: number; condition: string | undefined; description: unknown }> {
    await raw.closed;
    const periods = (Date.now() - lastWrite) / IDLE;
    const close = readFrames(raw.received()).find((f) => f.name === 'close');
    return { periods, condition: closeCondition(raw.received()), description: (close?.fields['error'] as { description?: unknown } | undefined)?.description };
  }

  test('a client silent after its open is closed with resource-limit-exceeded after two idle-time-outs, not three', async () => {
    const raw = await rawAmqp(idleBroker.amqpPort);
    raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'silent' }))]));
    const { periods, condition, description } = await silenceUntilClosed(raw, Date.now());
    assert.equal(condition, 'amqp:resource-limit-exceeded');
    assert.equal(description, `no frame for ${2 * IDLE} ms (twice amqp.idleTimeout)`);
    assert.ok(periods >= 2, `closed after ${periods.toFixed(2)} idle-time-outs: not before two`);
    assert.ok(periods < 3, `closed after ${periods.toFixed(2)} idle-time-outs: the close says two`);
  });

  test('the two idle-time-outs count from the client\'s last frame', async () => {
    const raw = await rawAmqp(idleBroker.amqpPort);
    raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'quiet-later' }))]));
    // empty frames for a while, each well within the limit, then silence
    let lastWrite = Date.now();
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, IDLE / 2));
      raw.write(Buffer.from([0, 0, 0, 8, 2, 0, 0, 0]));
      lastWrite = Date.now();
    }
    const { periods, condition } = await silenceUntilClosed(raw, lastWrite);
    assert.equal(condition, 'amqp:resource-limit-exceeded');
    assert.ok(periods >= 2, `closed ${periods.toFixed(2)} idle-time-outs after the last frame: not before two`);
    assert.ok(periods < 3, `closed ${periods.toFixed(2)} idle-time-outs after the last frame`);
  });

  test('the broker keeps a client\'s idle-time-out with empty frames', async () => {
    const raw = await rawAmqp(broker.amqpPort);
    raw.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'idle', idle_time_out: 100 }))]));
    const keepAlive = setInterval(() => raw.write(Buffer.from([0, 0, 0, 8, 2, 0, 0, 0])), 50);
    await new Promise((resolve) => setTimeout(resolve, 400));
    clearInterval(keepAlive);
    const empty = readFrames(raw.received()).filter((f) => f.name === 'empty').length;
    assert.ok(empty >= 3, `${empty} empty frames in 400 ms`);
    raw.socket.destroy();
  });

  test('a rhea client with an idle-time-out stays connected while idle', async () => {
    const c = await connectAmqp(broker.amqpPort, { idle_time_out: 100 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(c.connection.is_open(), true);
    await c.close();
  });
});

describe('broker stop', () => {
  test('each client hears a close with amqp:connection:forced; one that never answers it does not hold the stop', async () => {
    const own = await startBroker();
    const client = await connectAmqp(own.amqpPort);
    await client.openReceiver('stop.q');
    const silent = await rawAmqp(own.amqpPort);
    silent.write(Buffer.concat([AMQP_HEADER, frame(frames.open({ container_id: 'silent-at-stop' }))]));
    // its header and the broker's open: connected
    await silent.waitFor(16);
    await own.stop();
    const error = await client.closed;
    assert.equal(error?.condition, 'amqp:connection:forced');
    assert.equal(error?.description, 'broker shutdown');
    await silent.closed;
    assert.equal(closeCondition(silent.received()), 'amqp:connection:forced');
  });
});
