import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startFuzzBroker, type FuzzBroker } from '../fuzz/broker.js';
import { startPair, type PairProtocol } from '../fuzz/pair.js';
import { fuzz, summarise } from '../fuzz/run.js';
import { fuzzTargets } from '../fuzz/targets.js';

/**
 * Every decoder fuzzed over real sockets, with fast-check's mutated valid frames and random bytes,
 * before and after a valid handshake, while a well-behaved producer and consumer of the same
 * protocol run on the same broker. The broker must not crash or log an error or a stack, the pair
 * must lose nothing, and every connection the broker closes must hear why in its protocol.
 *
 * The seed is fixed and printed; FERRY_FUZZ_SEED=n runs others, FERRY_FUZZ_CASES=n more or fewer
 * cases per decoder, FERRY_FUZZ_TARGET=name one decoder, and FERRY_FUZZ_CASE=i the one case a
 * failure names. bench/fuzz.ts is the long run.
 */

const seed = Number(process.env['FERRY_FUZZ_SEED'] ?? 14);
const cases = Number(process.env['FERRY_FUZZ_CASES'] ?? 300);
const only = process.env['FERRY_FUZZ_CASE'] === undefined ? undefined : Number(process.env['FERRY_FUZZ_CASE']);
const targetFilter = process.env['FERRY_FUZZ_TARGET'];

let broker: FuzzBroker;
before(async () => {
  broker = await startFuzzBroker();
});
after(async () => {
  await broker.stop();
});

for (const target of fuzzTargets) {
  if (targetFilter !== undefined && target.name !== targetFilter) continue;
  test(`${target.name}: mutated frames and random bytes close only their own connection, each with its protocol's error`, async () => {
    console.log(`fuzzing ${target.name} with seed ${seed} (FERRY_FUZZ_SEED=${seed} FERRY_FUZZ_TARGET=${target.name} to replay)`);
    const pairProtocol: PairProtocol = target.pair;
    const pair = await startPair(pairProtocol, broker.ports, target.name);
    const report = await fuzz(target, {
      port: broker.ports[target.listener]!,
      seed,
      cases,
      concurrency: 16,
      framesPerCase: 3,
      quietMs: 250,
      answerMs: 10_000,
      ...(only === undefined ? {} : { only }),
    });
    const counts = await pair.stop();
    console.log(summarise(report));
    console.log(`pair (${counts.protocol}): ${counts.confirmed} confirmed, ${counts.received} received, ${counts.lost} lost`);
    assert.deepEqual(broker.health(), [], 'the broker is up and logged no error and no stack');
    assert.deepEqual(report.failures.slice(0, 5), [], `cases the broker mishandled (FERRY_FUZZ_SEED=${seed} FERRY_FUZZ_TARGET=${target.name} FERRY_FUZZ_CASE=i replays one)`);
    assert.deepEqual(counts.errors, [], 'the pair\'s connections carried on');
    assert.equal(counts.lost, 0, 'every message the pair\'s producer had confirmed reached its consumer');
    assert.ok(counts.confirmed > 0, 'the pair ran throughout');
    if (only === undefined) {
      assert.ok(report.outcomes.refused + report.outcomes.closed > 0 && report.outcomes.accepted > 0, 'the cases both broke frames and kept some valid');
    }
  });
}
