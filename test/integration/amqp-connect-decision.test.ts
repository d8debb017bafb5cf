import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { GateAuthenticator } from '../helpers/gate.js';
import { AMQP_HEADER, SASL_HEADER, encodeMessage, frame, frames, rawAmqp, readFrames, terminus } from '../helpers/amqp.js';

let broker: TestBroker;
const gate = new GateAuthenticator();
before(async () => {
  broker = await startBroker({}, { authenticator: gate });
});
after(async () => {
  await broker.stop();
});

const PLAIN = Buffer.concat([Buffer.from([0]), Buffer.from('ann'), Buffer.from([0]), Buffer.from('secret')]);

function saslInit(): Buffer {
  return frames.write_frame(frames.sasl_frame(frames.sasl_init({ mechanism: 'PLAIN', initial_response: PLAIN })));
}

test('AMQP: frames after the open wait for the broker\'s decision, then are handled in order', async () => {
  const q = `amqp.decided.${Date.now().toString(36)}`;
  const raw = await rawAmqp(broker.amqpPort);
  raw.write(Buffer.concat([SASL_HEADER, saslInit()]));
  // the SASL header, mechanisms and outcome
  await raw.waitFor(8 + 8);
  raw.write(
    Buffer.concat([
      AMQP_HEADER,
      frame(frames.open({ container_id: 'decided' })),
      frame(frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })),
      frame(frames.attach({ name: 'decided', handle: 0, role: false, target: terminus.target({ address: q }).described(), initial_delivery_count: 0 })),
    ]),
  );
  await gate.asked();
  const request = gate.requests.at(-1)!;
  assert.equal(request.protocol, 'amqp');
  assert.equal(request.credentials?.username, 'ann');
  assert.equal(request.credentials?.password, 'secret');
  const before = raw.received().length;
  gate.allow();
  let names: string[] = [];
  for (let n = before + 1; !names.includes('flow'); n = raw.received().length + 1) {
    names = readFrames((await raw.waitFor(n)).subarray(before + 8)).map((f) => f.name);
  }
  assert.deepEqual(names.slice(0, 4), ['open', 'begin', 'attach', 'flow']);
  raw.write(frame(frames.transfer({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from('1'), message_format: 0, settled: true }), encodeMessage({ body: 'x' })));
  raw.socket.destroy();
});

test('AMQP: a refused connect is a close with amqp:unauthorized-access and the code; what followed the open is not acted on', async () => {
  const q = `amqp.refused.${Date.now().toString(36)}`;
  const raw = await rawAmqp(broker.amqpPort);
  raw.write(
    Buffer.concat([
      AMQP_HEADER,
      frame(frames.open({ container_id: 'refused' })),
      frame(frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })),
      frame(frames.attach({ name: 'refused', handle: 0, role: true, source: terminus.source({ address: q }).described() })),
    ]),
  );
  await gate.asked();
  gate.refuse();
  await raw.closed;
  const got = readFrames(raw.received());
  assert.deepEqual(got.map((f) => f.name), ['open', 'close']);
  const error = got[1]!.fields['error'] as { condition: string; info?: Record<string, unknown> };
  assert.equal(error.condition, 'amqp:unauthorized-access');
  assert.equal(error.info?.['code'], 'FERRY_AUTHENTICATION_FAILED');
  assert.equal(broker.server.broker.stats().queues.find((s) => s.name === q), undefined, 'the attach after a refused open was not acted on');
});
