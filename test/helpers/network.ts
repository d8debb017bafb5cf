import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBroker, type BrokerProcess } from './process.js';

/** Below Linux's ephemeral range (32768-60999): no listener on port 0 and no outgoing connection of another test takes one of these. */
const FIXED_PORTS = { from: 20_000, to: 32_767 };

/**
 * A port free on loopback now, for a broker that must come back on the same address after a kill
 * or that neighbours name before it starts. It is drawn below the ephemeral range: a port the kernel
 * handed out for port 0 and gave back could be handed to another test's listener or client in the
 * moment between this check and the broker's bind.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = FIXED_PORTS.from + Math.floor(Math.random() * (FIXED_PORTS.to - FIXED_PORTS.from));
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export interface NodeSpec {
  readonly name: string;
  readonly stompPort: number;
  /**
   * The STOMP ports of the neighbours this broker pulls from, by connector name; `uri` instead of
   * the plain one on `port`, `settings` more of the connector's keys (YAML, one per line).
   */
  readonly neighbours: readonly { readonly name: string; readonly port: number; readonly uri?: string; readonly settings?: readonly string[] }[];
  readonly ttl?: number;
  /** More of the configuration file, top-level YAML. */
  readonly config?: string;
  /** A STOMP TLS listener on this port (needs `tls` in `config`). */
  readonly stompTlsPort?: number;
  /** Where its STOMP listener listens; default 127.0.0.1. */
  readonly stompHost?: string;
  /** Runs it in this network namespace, its listeners on every address, reached at `address`. */
  readonly netns?: { readonly name: string; readonly address: string };
}

export interface NetworkNode {
  readonly spec: NodeSpec;
  readonly data: string;
  process: BrokerProcess;
  /** Starts it again on the same data folder and ports (after a kill). */
  restart(): Promise<void>;
  stats(): Promise<NodeStats>;
}

export interface ConnectorView {
  readonly name: string;
  readonly state: string;
  readonly neighbour: string | undefined;
  readonly demand: readonly { readonly kind: string; readonly name: string; readonly path: readonly string[]; readonly open: boolean; readonly back: boolean }[];
  readonly received: number;
  readonly returned: number;
  readonly links: number;
  readonly refused: readonly string[];
}

export interface NodeStats {
  readonly queues: readonly { readonly name: string; readonly pending: number; readonly inFlight: number; readonly consumers: number }[];
  readonly network: readonly ConnectorView[];
  /** Client connections open (a network link it accepted counts as one). */
  readonly connections: number;
  readonly durableSubscriptions: readonly { readonly clientId: string; readonly name: string; readonly topic: string; readonly active: boolean; readonly pending: number }[];
}

/** Starts one broker process of a network, with its connectors in a configuration file. */
export async function startNode(spec: NodeSpec): Promise<NetworkNode> {
  const data = mkdtempSync(join(tmpdir(), `ferry-net-${spec.name}-`));
  const config = join(data, '..', `${data.split('/').pop()!}.yaml`);
  const connectors = spec.neighbours
    .map((n) => {
      const more = (n.settings ?? []).map((line) => `      ${line}\n`).join('');
      return `    - name: ${n.name}\n      uris: ["${n.uri ?? `stomp://127.0.0.1:${n.port}`}"]\n      ttl: ${spec.ttl ?? 4}\n      reconnectDelay: 50\n      maxReconnectDelay: 500\n${more}`;
    })
    .join('');
  writeFileSync(config, `broker:\n  name: ${spec.name}\nnetwork:\n  connectors:\n${connectors === '' ? '    []\n' : connectors}${spec.config ?? ''}`);
  const tls = spec.stompTlsPort === undefined ? [] : ['--stomp-tls-port', String(spec.stompTlsPort), '--stomp-tls-host', '127.0.0.1'];
  const host = spec.netns === undefined ? (spec.stompHost ?? '127.0.0.1') : '0.0.0.0';
  const env = spec.netns === undefined ? {} : { FERRY_HTTP_HOST: '0.0.0.0' };
  const prefix = spec.netns === undefined ? [] : ['ip', 'netns', 'exec', spec.netns.name];
  const start = (): Promise<BrokerProcess> => spawnBroker(['--data', data, '--config', config, '--stomp-port', String(spec.stompPort), '--stomp-host', host, ...tls], env, 'broker.started', prefix);
  const node: NetworkNode = {
    spec,
    data,
    process: await start(),
    async restart() {
      node.process = await start();
    },
    async stats() {
      const response = await fetch(`http://${spec.netns?.address ?? '127.0.0.1'}:${node.process.ports['http']}/api/stats`);
      return (await response.json()) as NodeStats;
    },
  };
  return node;
}

/**
 * Asks `check` again, every 20 ms, until it holds: the network's state (demand, links) changes in
 * other processes, which say so only through their statistics.
 */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** True when `node`'s connector named `connector` is linked and its neighbour has confirmed a subscription for the destination. */
export async function pulls(node: NetworkNode, connector: string, kind: string, name: string): Promise<boolean> {
  const view = (await node.stats()).network.find((c) => c.name === connector);
  return view !== undefined && view.state === 'connected' && view.demand.some((d) => d.kind === kind && d.name === name && d.open && !d.back);
}

/** Every connector of every node, with the destinations it pulls, as `node/connector: kind:name ...`. */
export async function demandMap(nodes: readonly NetworkNode[]): Promise<string[]> {
  const out: string[] = [];
  for (const node of nodes) {
    for (const c of (await node.stats()).network) out.push(`${node.spec.name}/${c.name}: ${c.demand.filter((d) => !d.back).map((d) => `${d.kind}:${d.name}`).sort().join(' ')}`);
  }
  return out;
}

export async function linked(node: NetworkNode): Promise<boolean> {
  return (await node.stats()).network.every((c) => c.state === 'connected');
}

export async function stopAll(nodes: readonly (NetworkNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((n) => (n === undefined || n.process.child.exitCode !== null ? undefined : n.process.stop('SIGKILL'))));
}

/** A TCP relay on loopback between a connector and its neighbour, whose link a test can cut. */
export interface CuttableLink {
  readonly port: number;
  /** How many connections it has relayed. */
  readonly accepted: number;
  /** Drops every relayed connection at once, both ways, as a broken network would. */
  cut(): void;
  close(): Promise<void>;
}

export async function cuttableLink(targetPort: number): Promise<CuttableLink> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((inbound) => {
    accepted++;
    const outbound = connect({ host: '127.0.0.1', port: targetPort });
    for (const [from, to] of [[inbound, outbound], [outbound, inbound]] as const) {
      sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => (sockets.delete(from), to.destroy()));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get accepted() {
      return accepted;
    },
    cut() {
      for (const socket of sockets) socket.resetAndDestroy();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
