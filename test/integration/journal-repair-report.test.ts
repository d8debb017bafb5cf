import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { RecordType, decodeReference, decodeStoredMessage } from '../../src/core/records.js';
import { FrameKind, SEGMENT_HEADER_SIZE, decodeFrame, decodeSegmentHeader, emptyFrame } from '../../src/store/journal/format.js';
import { startBroker } from '../helpers/broker.js';
import { connectStomp } from '../helpers/stomp.js';
import { testFolder } from '../helpers/temp-dir.js';
import { flipByte } from '../helpers/damage.js';

/**
 * What a repair drops is named in terms an operator can look up: the destination and the message
 * ids (as far as the store still holds them), not only the store's record ids.
 */

interface AddFrame {
  readonly file: string;
  readonly dataStart: number;
  readonly id: number;
  readonly type: number;
  readonly data: Buffer;
}

/** Every add frame of the journal's segment files, in order. */
async function addFrames(journal: string): Promise<AddFrame[]> {
  const out: AddFrame[] = [];
  for (const file of (await readdir(journal)).filter((f) => f.endsWith('.jnl')).sort()) {
    const buf = await readFile(join(journal, file));
    const header = decodeSegmentHeader(buf);
    assert.ok(header.ok);
    const frame = emptyFrame();
    for (let at = SEGMENT_HEADER_SIZE; at < buf.length; at = frame.end) {
      assert.equal(decodeFrame(buf, at, frame, header.version), undefined, `a whole frame at ${file}:${at}`);
      if (frame.kind === FrameKind.Add) out.push({ file, dataStart: frame.dataStart, id: frame.id, type: frame.type, data: Buffer.from(buf.subarray(frame.dataStart, frame.dataEnd)) });
    }
  }
  return out;
}

test('store.journal.repair names what it drops by destination and message id: a lost reference gives its message, a lost message record its queue', async () => {
  const data = await testFolder('ferry-repair-report-');
  const settings = { data, 'store.journal.minFreeDisk': 0, 'store.journal.compactInterval': 0 };
  const first = await startBroker(settings);
  const producer = await connectStomp(first.stompPort);
  for (let n = 1; n <= 5; n++) await producer.sendConfirmed('/queue/pay', `m${n}`, { persistent: 'true' });
  await producer.disconnect();
  await first.server.stop();

  // which record is which: message records carry their message's id, references their message record's
  const journal = join(data, 'journal');
  const frames = await addFrames(journal);
  const messageIds = new Map<number, string>();
  const bodies = new Map<string, number>();
  for (const f of frames) {
    if (f.type !== RecordType.StoredMessage) continue;
    const { message } = decodeStoredMessage(f.data, f.type);
    messageIds.set(f.id, message.id);
    bodies.set(message.body.toString(), f.id);
  }
  const m2 = bodies.get('m2')!;
  const m3 = bodies.get('m3')!;
  const referenceOf = (messageRecordId: number): AddFrame => frames.find((f) => f.type === RecordType.Reference && decodeReference(f.data).messageRecordId === messageRecordId)!;
  // m2 loses its reference (its message record stays, with nothing to put it anywhere);
  // m3 loses its message record (its reference stays, naming the queue)
  const lostReference = referenceOf(m2);
  const m3Reference = referenceOf(m3).id;
  const lostMessage = frames.find((f) => f.id === m3)!;
  await flipByte(join(journal, lostReference.file), lostReference.dataStart + 2);
  await flipByte(join(journal, lostMessage.file), lostMessage.dataStart + lostMessage.data.length - 1);

  const logLines: Record<string, unknown>[] = [];
  const repaired = await startBroker({ ...settings, 'store.journal.repair': true }, { logLines });
  try {
    const repairs = logLines.filter((l) => l['event'] === 'journal.repaired');
    assert.deepEqual(repairs.map((l) => l['recordIds']).sort(), [[lostReference.id], [m3]].sort(), 'the journal gives the store record ids of what it dropped');
    const orphans = logLines.find((l) => l['event'] === 'store.orphans');
    assert.ok(orphans !== undefined, 'the repair says what it left without a place');
    assert.equal(orphans['deleted'], true);
    assert.equal(orphans['destinations'], 1);
    assert.deepEqual(orphans['unplaced'], [{ destination: 'queue://pay', count: 2, messageIds: [messageIds.get(m2)], recordIds: [m3Reference, m2] }]);

    const consumer = await connectStomp(repaired.stompPort);
    const inbox = consumer.subscribe('/queue/pay', { ack: 'auto' });
    const got: string[] = [];
    for (let n = 0; n < 3; n++) got.push((await inbox.next(5000)).body);
    assert.deepEqual(got, ['m1', 'm4', 'm5']);
    await consumer.disconnect();
  } finally {
    await repaired.server.stop();
  }
});
