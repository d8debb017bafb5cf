import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mutate } from '../fuzz/mutate.js';
import { wsStompTarget } from '../fuzz/websocket.js';
import { amqp091Target } from '../fuzz/amqp091.js';
import { openWireTarget } from '../fuzz/openwire.js';

/**
 * The fuzzer's judge asserts that a huge outer length is refused from the header only where the
 * length is still a length. Found by the long run (ws-stomp, seed 1, case 11859): a flip of the
 * 7-bit length byte turned a 64-bit-length WebSocket frame into a 95-byte one, so the "huge" word
 * after it was mask and payload, and the broker rightly waited for 95 bytes.
 */
test('a huge length after a flip before it is not one the broker must refuse from the header', () => {
  const seed = wsStompTarget.seeds[9]!;
  const flipped = mutate(seed, [{ op: 'flip', at: 268157, bit: 5 }, { op: 'length', field: 8, value: 'huge' }]);
  assert.equal(flipped.bytes.toString('hex', 0, 10), '81df00000000ffffffff', 'the case the long run reported');
  assert.equal(flipped.hugeOuterLength, false);
  const intact = mutate(seed, [{ op: 'length', field: 8, value: 'huge' }]);
  assert.equal(intact.hugeOuterLength, true, 'an untouched 64-bit length made huge must be refused');
});

/**
 * Found by the 10,000,000-frame run (amqp091, seed 1, case 749441): the frame's size was doubled,
 * so the frame never ended and the broker rightly waited for the rest; the huge body size inside it
 * was never reached.
 */
test('a huge length inside a frame whose own length was changed first is not one the broker must refuse', () => {
  const seed = amqp091Target.seeds[4]!;
  const doubled = mutate(seed, [{ op: 'length', field: 3, value: 'double' }, { op: 'length', field: 11, value: 'huge' }]);
  assert.equal(doubled.bytes.toString('hex', 0, 7), '0200010000007c', 'the case the long run reported');
  assert.equal(doubled.hugeOuterLength, false);
  const intact = mutate(seed, [{ op: 'length', field: 11, value: 'huge' }]);
  assert.equal(intact.hugeOuterLength, true, 'a body size made huge in a whole frame must be refused from the content header');
});

test('the OpenWire judge owes no error for a ShutdownInfo cut short that the probe\'s first bytes complete (found by the 10,000,000-frame run)', () => {
  // size 6, ShutdownInfo, four bytes of its command id: the probe's first byte is its responseRequired
  const cut = Buffer.from('000000060b0000000d', 'hex');
  assert.equal(openWireTarget.errorDue('after', cut), false);
  // a whole command that is not a ShutdownInfo still owes one
  assert.equal(openWireTarget.errorDue('after', Buffer.from('000000060c0000000d00', 'hex')), true);
});
