// Idle MQTT connections: opens `scenario.idleConnections` connections (CONNECT with keep-alive
// `scenario.idleKeepAlive` or 0, clean session, then wait for CONNACK), at most CONCURRENT handshakes
// at a time, and reports the connect rate and the broker's resident memory per connection:
// (VmRSS after the last CONNACK and a settling pause − VmRSS before the first) / connections.
// A cold scenario (`scenario.idleCold`) skips the warm-up and measures the broker as started.

import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { portFor, residentBytes, tailOf } from './broker.js';
import type { RunningBroker } from './broker.js';
import { nowUs } from './clock.js';
import { processCpuUs } from './cpu.js';
import { DISCONNECT, PacketType, connectPacket } from './mqtt-client.js';
import { emptyResult } from './runner.js';
import type { ScenarioResult } from './runner.js';
import type { Scenario } from './scenarios.js';

/**
 * Handshakes in flight: enough to keep the broker busy, few enough to stay inside a listen backlog
 * (Mosquitto's is 100), where an overflow would cost a 1 s SYN retransmission.
 */
const CONCURRENT = 64;
/** Time for the broker to finish allocating (a JVM's lazily touched pages, deferred buffers). */
const SETTLE_MS = 2000;
/**
 * How long the connections then stay idle before the second reading. A runtime that grew under the
 * burst gives memory back once it is quiet (V8's memory reducer shrinks the young generation and
 * compacts the old one some seconds after allocation stops); what is left then is what an idle
 * connection costs. Both readings are reported.
 */
const IDLE_MS = 30_000;
/**
 * Connections opened and closed before the measurement, for every broker alike: what a broker
 * grows once under a burst of handshakes (a JIT's code, Node's young generation, a JVM's first
 * touched pages) is not memory per connection, and without this it is charged to the first
 * scenario that runs.
 */
const WARM_UP_CONNECTIONS = 2000;

function handshake(host: string, port: number, clientId: string, keepAlive = 0): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no CONNACK within 30 s'));
    }, 30_000);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('connect', () => socket.write(connectPacket(clientId, keepAlive)));
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      socket.removeAllListeners('data');
      clearTimeout(timer);
      if (got[0] !== PacketType.connack << 4 || got[3] !== 0) fail(new Error(`CONNECT refused (${got.subarray(0, 4).toString('hex')})`));
      else resolve(socket);
    });
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('closed before CONNACK')));
  });
}

async function warmUp(host: string, port: number, tag: string): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < WARM_UP_CONNECTIONS) {
      const socket = await handshake(host, port, `bench-warm-${tag}-${next++}`);
      socket.on('error', () => undefined);
      socket.end(DISCONNECT);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT }, lane));
  await sleep(SETTLE_MS);
}

export async function runIdle(broker: RunningBroker, scenario: Scenario): Promise<ScenarioResult> {
  const result = emptyResult(scenario.name, broker.name);
  const count = scenario.idleConnections ?? 0;
  const port = portFor(broker, 'mqtt');
  if (port === undefined) return { ...result, error: `${broker.name} has no mqtt listener` };
  const tag = randomBytes(3).toString('hex');
  const sockets: net.Socket[] = [];
  let failure: Error | undefined;
  try {
    // A cold broker is read quiet too, so both readings are of a broker at rest.
    if (scenario.idleCold === true) await sleep(IDLE_MS);
    else await warmUp(broker.host, port, tag);
    const rssBefore = residentBytes(broker.pid);
    const cpuBefore = processCpuUs(broker.pid);
    const loadBefore = process.cpuUsage();
    const startUs = nowUs();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (failure === undefined && next < count) {
        const i = next++;
        try {
          const socket = await handshake(broker.host, port, `bench-idle-${tag}-${i}`, scenario.idleKeepAlive ?? 0);
          socket.on('error', () => undefined);
          socket.on('close', () => {
            failure ??= new Error(`connection ${i} closed by the broker`);
          });
          sockets.push(socket);
        } catch (err) {
          failure ??= new Error(`connection ${i}: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT }, lane));
    const elapsedUs = nowUs() - startUs;
    const cpuAfter = processCpuUs(broker.pid);
    const load = process.cpuUsage(loadBefore);
    if (failure !== undefined) throw failure;
    await sleep(SETTLE_MS);
    const rssAfter = residentBytes(broker.pid);
    if (failure !== undefined) throw failure;
    await sleep(IDLE_MS);
    const rssIdle = residentBytes(broker.pid);
    if (failure !== undefined) throw failure;
    const open = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
    if (open < count) throw new Error(`${count - open} of ${count} connections were closed while idle`);
    if (broker.exited()) throw new Error('the broker exited');
    result.elapsedSeconds = elapsedUs / 1e6;
    result.brokerCpuUs = cpuAfter - cpuBefore;
    result.loadGeneratorCores = (load.user + load.system) / elapsedUs;
    result.idle = {
      connections: count,
      connectsPerSecond: (count * 1e6) / elapsedUs,
      rssBeforeBytes: rssBefore,
      rssAfterBytes: rssAfter,
      bytesPerConnection: (rssAfter - rssBefore) / count,
      rssIdleBytes: rssIdle,
      idleBytesPerConnection: (rssIdle - rssBefore) / count,
      brokerCpuUsPerConnection: (cpuAfter - cpuBefore) / count,
    };
    result.warmupDrained = true;
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    await sleep(100);
    if (broker.exited()) {
      result.error = `${broker.name} exited during the run (${result.error}); its log ends:\n${tailOf(broker.logFile, 10)}`;
    }
  } finally {
    failure ??= new Error('closing');
    for (const socket of sockets) {
      if (!socket.destroyed) socket.end(DISCONNECT);
    }
    await sleep(500);
    for (const socket of sockets) socket.destroy();
    // the broker's own bookkeeping of 10,000 departures, before the next scenario starts
    await sleep(1000);
  }
  return result;
}
