import assert from 'node:assert/strict';
import { readFile, readdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { RecordType, decodeQueue, decodeReference } from '../../src/core/records.js';
import { FrameKind, SEGMENT_HEADER_SIZE, decodeFrame, decodeSegmentHeader, emptyFrame } from '../../src/store/journal/format.js';
import { ApiClient } from '../helpers/management.js';
import { restartableBrokers } from '../helpers/restartable.js';
import { connectStomp } from '../helpers/stomp.js';

/**
 * A broker that stops in the middle of a queue's delete (the write of the delete torn after the
 * first of its references' deletes) finishes the delete at its next start: the references left are
 * not taken for what is left of a lost file, kept and warned about at every start until a repair.
 */

const brokers = restartableBrokers();
const MESSAGES = 20;

test('a crash in the middle of a queue delete: the next start finishes the delete, with no store.orphans warning', async () => {
  const data = brokers.folder('ferry-delete-crash-');
  const first = await brokers.start(data);
  const client = await connectStomp(first.ports['stomp']!);
  for (let n = 0; n < MESSAGES; n++) await client.sendConfirmed('/queue/gone', `m${n}`, { persistent: 'true' });
  await client.sendConfirmed('/queue/stays', 'kept', { persistent: 'true' });
  assert.equal((await new ApiClient(first.ports['http']!).delete('/api/v1/destinations/queue/gone')).status, 204);
  // a confirmed send after the delete: the delete's records are on disk when it is confirmed
  await client.sendConfirmed('/queue/stays', 'after', { persistent: 'true' });
  await client.disconnect();
  assert.equal(await first.stop('SIGKILL'), null);

  // Cut the journal as a crash tearing the delete's write could: after the first frame of the
  // delete that names the queue's record, and the deletes of two of its references and
  // their messages (a cut between a reference's delete and its message's is another matter).
  const journal = join(data, 'journal');
  const files = (await readdir(journal)).filter((f) => f.endsWith('.jnl')).sort();
  assert.equal(files.length, 1, 'one segment file');
  const path = join(journal, files[0]!);
  const buf = await readFile(path);
  const header = decodeSegmentHeader(buf);
  assert.ok(header.ok);
  const frame = emptyFrame();
  let queueId = -1;
  let cut = -1;
  let deletesAfter = -1;
  const references = new Set<number>();
  for (let at = SEGMENT_HEADER_SIZE; at < buf.length && cut < 0; at = frame.end) {
    assert.equal(decodeFrame(buf, at, frame, header.version), undefined);
    const data = buf.subarray(frame.dataStart, frame.dataEnd);
    if (frame.kind === FrameKind.Add && frame.type === RecordType.Queue && decodeQueue(data).name === 'gone') queueId = frame.id;
    else if (frame.kind === FrameKind.Add && frame.type === RecordType.Reference && decodeReference(data).queueId === queueId) references.add(frame.id);
    else if (queueId >= 0 && frame.id === queueId && deletesAfter < 0) deletesAfter = 0;
    else if (deletesAfter >= 0 && frame.kind === FrameKind.Delete && references.has(frame.id) && ++deletesAfter === 3) cut = at;
  }
  assert.equal(references.size, MESSAGES);
  assert.ok(cut > 0, 'the delete of queue gone is in the journal');
  await truncate(path, cut);

  const second = await brokers.start(data);
  const recovered = await second.logged('broker.recovered');
  assert.equal(recovered['messages'], 1, 'queue stays has its message; queue gone none');
  assert.equal(second.logs.find((l) => l['event'] === 'store.orphans'), undefined, 'no records kept as orphans');
  const finished = await second.logged('broker.delete-finished');
  assert.equal(finished['queues'], 1);
  assert.equal(finished['references'], MESSAGES - 2);
  const consumer = await connectStomp(second.ports['stomp']!);
  await consumer.subscribe('/queue/gone').expectNothing(300);
  await consumer.disconnect();
  assert.equal(await second.stop(), 0);

  // finished for good: the next start has nothing left of it
  const third = await brokers.start(data);
  await third.logged('broker.recovered');
  assert.equal(third.logs.find((l) => l['event'] === 'store.orphans' || l['event'] === 'broker.delete-finished'), undefined);
  assert.equal(await third.stop(), 0);
});
