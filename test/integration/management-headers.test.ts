import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { jmsCheck, jmsMissing, one } from '../helpers/jms.js';
import { ApiClient } from '../helpers/management.js';
import { eventually, uniqueName } from '../helpers/raw-stomp.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * Properties named after JMS headers (JMSXGroupID, JMSXGroupSeq, JMSCorrelationID, JMSType,
 * JMSPriority), given to the management API's send (what the console's Send page calls) or as
 * STOMP headers, are those headers, as ActiveMQ's message takes them: JMS and STOMP consumers read
 * them as the headers, and a queue keeps the group to one consumer.
 */
let broker: TestBroker;
let api: ApiClient;

before(async () => {
  broker = await startBroker();
  api = new ApiClient(broker.server.ports['http']!);
});

after(() => broker.stop());

const headerProperties = { JMSXGroupID: 'g1', JMSXGroupSeq: { type: 'int', value: 3 }, JMSCorrelationID: 'c9', JMSType: 't9', JMSPriority: 9, plain: 'p' };

test('sent through the API, they reach a JMS consumer as its headers', { skip: jmsMissing() ?? false, timeout: 120_000 }, async () => {
  const q = uniqueName('headers.jms');
  assert.equal((await api.post(`/api/v1/destinations/queue/${q}/messages`, { body: 'x', properties: headerProperties })).status, 201);
  const read = await jmsCheck(`tcp://127.0.0.1:${broker.server.ports['openwire']!}`, 'read-headers', q, '1');
  assert.deepEqual(
    ['correlationId', 'type', 'priority', 'groupId', 'groupSeq'].map((k) => one(read, `0.${k}`)),
    ['c9', 't9', 9, 'g1', 3],
  );
});

test('sent through the API, they reach a STOMP consumer as its headers, are the message\'s own fields, and keep a group on one consumer', async () => {
  const q = uniqueName('headers.stomp');
  assert.equal((await api.post(`/api/v1/destinations/queue/${q}/messages`, { body: 'x', properties: headerProperties })).status, 201);
  const page = await api.get<{ items: { id: string }[] }>(`/api/v1/queues/${q}/messages`);
  const view = await api.get<Record<string, unknown>>(`/api/v1/queues/${q}/messages/${encodeURIComponent(page.body.items[0]!.id)}`);
  assert.deepEqual(
    [view.body['groupId'], view.body['groupSeq'], view.body['correlationId'], view.body['type'], view.body['priority'], view.body['properties']],
    ['g1', 3, 'c9', 't9', 9, [{ name: 'plain', type: 'string', value: 'p' }]],
  );
  const client = await connectStomp(broker.stompPort);
  try {
    const m = await client.subscribe(`/queue/${q}`).next(5000);
    assert.deepEqual(
      [m.headers['correlation-id'], m.headers['type'], m.headers['priority'], m.headers['JMSXGroupID'], m.headers['JMSXGroupSeq'], m.headers['JMSCorrelationID'], m.headers['plain']],
      ['c9', 't9', '9', 'g1', '3', undefined, 'p'],
    );

    // two consumers taking one at a time: every message of the group goes to the first one given it
    const grouped = uniqueName('headers.group');
    const other = await connectStomp(broker.stompPort);
    try {
      const inboxes = [client.subscribe(`/queue/${grouped}`, { 'activemq.prefetchSize': '1' }), other.subscribe(`/queue/${grouped}`, { 'activemq.prefetchSize': '1' })];
      await client.sendConfirmed(`/queue/${grouped}.ready`, 'sync');
      await other.sendConfirmed(`/queue/${grouped}.ready`, 'sync');
      for (let i = 0; i < 6; i++) {
        assert.equal((await api.post(`/api/v1/destinations/queue/${grouped}/messages`, { body: `m${i}`, properties: { JMSXGroupID: 'g1' } })).status, 201);
      }
      await eventually('the six messages delivered', () => inboxes[0]!.size + inboxes[1]!.size === 6);
      assert.deepEqual(inboxes.map((inbox) => inbox.size).sort(), [0, 6]);
    } finally {
      await other.disconnect();
    }
  } finally {
    await client.disconnect();
  }
});

test('a STOMP SEND with JMSCorrelationID, JMSType and JMSPriority headers reaches a JMS consumer as those headers', { skip: jmsMissing() ?? false, timeout: 120_000 }, async () => {
  const q = uniqueName('headers.from-stomp');
  const client = await connectStomp(broker.stompPort);
  try {
    await client.sendConfirmed(`/queue/${q}`, 'x', { JMSCorrelationID: 'c1', JMSType: 't1', JMSPriority: '7', JMSXGroupID: 'g2', JMSXGroupSeq: '2' });
  } finally {
    await client.disconnect();
  }
  const read = await jmsCheck(`tcp://127.0.0.1:${broker.server.ports['openwire']!}`, 'read-headers', q, '1');
  assert.deepEqual(
    ['correlationId', 'type', 'priority', 'groupId', 'groupSeq'].map((k) => one(read, `0.${k}`)),
    ['c1', 't1', 7, 'g2', 2],
  );
});

test('a value the header cannot take is a 400 that names it, and nothing is sent', async () => {
  const q = uniqueName('headers.bad');
  for (const properties of [{ JMSPriority: 12 }, { JMSXGroupSeq: 'first' }, { JMSCorrelationID: null }]) {
    const answer = await api.post(`/api/v1/destinations/queue/${q}/messages`, { body: 'x', properties });
    assert.equal(answer.status, 400, JSON.stringify(properties));
    assert.equal(answer.body['code'], 'FERRY_BAD_REQUEST');
    assert.match(String(answer.body['error']), new RegExp(`property "${Object.keys(properties)[0]!}" sets the JMS header`));
  }
  assert.equal((await api.get(`/api/v1/destinations/queue/${q}`)).status, 404, 'nothing was sent');
});
