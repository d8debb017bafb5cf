import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { activeMqInstalled, ACTIVEMQ_INSTALL_HINT, DEFAULT_ACTIVEMQ_HOME, startActiveMq } from '../../bench/activemq.js';
import type { RunningBroker } from '../../bench/broker.js';
// below the ephemeral range: a killed broker's port must still be free when it comes back
import { freePort } from './network.js';
import { configSchema } from '../../src/config/schema.js';
import { startBroker, type TestBroker } from './broker.js';
import { missingPrerequisite } from './interop.js';
import { spawnBroker, type BrokerProcess } from './process.js';
import { startSecureBroker } from './security.js';

/**
 * The broker an OpenWire interop test talks to: Ferry by default, or ActiveMQ 5.17 when
 * FERRY_OPENWIRE_TARGET=activemq, so the same tests show what the reference broker does.
 */
export type TargetName = 'ferry' | 'activemq';

export const targetName: TargetName = process.env['FERRY_OPENWIRE_TARGET'] === 'activemq' ? 'activemq' : 'ferry';

export const JMS_USER = { name: 'jms-user', password: 'jms-secret' } as const;

/** True once Ferry's configuration has an `openwire` listener, i.e. the broker side exists. */
export function ferryHasOpenWire(): boolean {
  const listeners = configSchema.parse({}).listeners as Record<string, unknown>;
  return 'openwire' in listeners;
}

/** Why the target cannot be started here, or undefined when it can; said loudly. */
export function targetMissing(): string | undefined {
  if (targetName === 'activemq') {
    return missingPrerequisite('ActiveMQ 5.17', activeMqInstalled(DEFAULT_ACTIVEMQ_HOME), ACTIVEMQ_INSTALL_HINT.split('\n')[0]!);
  }
  if (ferryHasOpenWire()) return undefined;
  const reason = 'OpenWire listener not built yet (no `listeners.openwire` in src/config/schema.ts); FERRY_OPENWIRE_TARGET=activemq runs these tests against ActiveMQ';
  console.warn(`\n*** SKIPPING OpenWire interop tests: ${reason} ***\n`);
  return reason;
}

export interface OpenWireTarget {
  readonly name: TargetName;
  /** tcp://127.0.0.1:PORT */
  readonly url: string;
  /** The queue dead letters go to. */
  readonly deadLetterQueue: string;
  /** A broker where JMS_USER logs in and a wrong password is refused (for ActiveMQ, this one). */
  secured(): Promise<{ url: string; stop(): Promise<void> }>;
  /** A broker in its own process on a fixed port, which can be killed with SIGKILL and restarted on its data. */
  crashable(): Promise<CrashableBroker>;
  stop(): Promise<void>;
}

export interface CrashableBroker {
  readonly url: string;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The queue both targets hold producers of past a few KiB waiting (the flow-control test). */
const FLOW_CONTROLLED = { queue: 'interop.block', bytes: 4096 } as const;

function portOf(ports: Readonly<Record<string, number>> | undefined): number {
  const port = ports?.['openwire'];
  if (port === undefined || port === 0) throw new Error('the broker has no OpenWire listener');
  return port;
}

async function waitUntilExited(exited: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !exited(); i++) await sleep(50);
  if (!exited()) throw new Error('the killed broker did not exit');
}

async function activeMq(base?: string, ports?: { stomp: number; openwire: number }): Promise<RunningBroker> {
  return startActiveMq({
    home: DEFAULT_ACTIVEMQ_HOME,
    openwire: true,
    schedulerSupport: true,
    user: JMS_USER,
    anonymousAccessAllowed: true,
    queueMemoryLimits: { [FLOW_CONTROLLED.queue]: FLOW_CONTROLLED.bytes },
    ...(base === undefined ? {} : { reuse: { base, ...(ports === undefined ? {} : { ports }) } }),
  });
}

async function crashableActiveMq(): Promise<CrashableBroker> {
  const base = mkdtempSync(join(tmpdir(), 'ferry-openwire-activemq-'));
  const ports = { stomp: await freePort(), openwire: await freePort() };
  let broker = await activeMq(base, ports);
  return {
    url: `tcp://127.0.0.1:${ports.openwire}`,
    async kill9() {
      process.kill(broker.pid, 'SIGKILL');
      await waitUntilExited(() => broker.exited());
    },
    async restart() {
      broker = await activeMq(base, ports);
    },
    async stop() {
      await broker.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

async function crashableFerry(): Promise<CrashableBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-openwire-crash-'));
  const port = await freePort();
  const args = ['--data', join(dir, 'data'), '--stomp-port', '0', '--stomp-host', '127.0.0.1', '--openwire-port', String(port), '--openwire-host', '127.0.0.1'];
  let broker: BrokerProcess = await spawnBroker(args);
  return {
    url: `tcp://127.0.0.1:${port}`,
    async kill9() {
      await broker.stop('SIGKILL');
    },
    async restart() {
      broker = await spawnBroker(args);
    },
    async stop() {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startOpenWireTarget(): Promise<OpenWireTarget> {
  if (targetName === 'activemq') {
    const base = mkdtempSync(join(tmpdir(), 'ferry-openwire-activemq-'));
    const broker = await activeMq(base);
    const url = `tcp://127.0.0.1:${portOf(broker.ports)}`;
    return {
      name: 'activemq',
      url,
      deadLetterQueue: 'ActiveMQ.DLQ',
      secured: async () => ({ url, stop: async () => {} }),
      crashable: crashableActiveMq,
      async stop() {
        await broker.stop();
        rmSync(base, { recursive: true, force: true });
      },
    };
  }
  const broker: TestBroker = await startBroker({
    'listeners.openwire.port': 0,
    'listeners.openwire.host': '127.0.0.1',
    // producer flow control, as the ActiveMQ target's policy entry for the same queue
    'destinations.policies': [{ match: 'interop.block', memoryLimit: FLOW_CONTROLLED.bytes, memoryPolicy: 'block' }],
  });
  return {
    name: 'ferry',
    url: `tcp://127.0.0.1:${portOf(broker.ports)}`,
    deadLetterQueue: 'ActiveMQ.DLQ',
    async secured() {
      const secure = await startSecureBroker({ users: { [JMS_USER.name]: { password: JMS_USER.password } }, authorization: null });
      return { url: `tcp://127.0.0.1:${portOf(secure.ports)}`, stop: () => secure.stop() };
    },
    crashable: crashableFerry,
    stop: () => broker.stop(),
  };
}
