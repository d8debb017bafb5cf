// The printed table and the JSON file of a benchmark run.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ScenarioResult } from './runner.js';
import type { Scenario } from './scenarios.js';

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function grouped(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (rightAligned[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatResults(results: readonly ScenarioResult[], scenarios: readonly Scenario[]): string {
  const isIdle = (r: ScenarioResult): boolean => scenarios.find((s) => s.name === r.scenario)?.idleConnections !== undefined;
  const rows = results.filter((r) => !isIdle(r)).map((r) => {
    const kind = scenarios.find((s) => s.name === r.scenario)?.kind;
    if (r.error !== undefined) return [r.scenario, r.broker, 'failed', '', '', '', '', '', '', ''];
    return [
      r.scenario,
      r.broker,
      grouped(r.deliveriesPerSecond) + (kind === 'topic' ? ' dlv' : ''),
      fixed(r.latencyMs.p50, 2),
      fixed(r.latencyMs.p99, 2),
      fixed(r.latencyMs.p999, 2),
      fixed(r.brokerCpuUsPerDelivery, 1),
      String(r.lost),
      String(r.duplicates + r.unreadable),
      fixed(r.loadGeneratorCores * 100, 0),
    ];
  });
  const out = [
    table(
      ['scenario', 'broker', 'msgs/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/msg', 'lost', 'dups', 'load CPU%'],
      rows,
      [false, false, true, true, true, true, true, true, true, true],
    ),
  ];

  const idleRows = results.filter(isIdle).map((r) =>
    r.error !== undefined || r.idle === undefined
      ? [r.scenario, r.broker, 'failed', '', '', '', '', '']
      : [
          r.scenario,
          r.broker,
          grouped(r.idle.connections),
          grouped(r.idle.connectsPerSecond),
          fixed(r.idle.bytesPerConnection / 1024, 2),
          fixed(r.idle.idleBytesPerConnection / 1024, 2),
          fixed(r.idle.brokerCpuUsPerConnection, 0),
          fixed(r.loadGeneratorCores * 100, 0),
        ],
  );
  if (idleRows.length > 0) {
    out.push(
      '',
      table(
        ['scenario', 'broker', 'connections', 'connects/s', 'KiB/conn at 2 s', 'KiB/conn at 32 s', 'CPU µs/conn', 'load CPU%'],
        idleRows,
        [false, false, true, true, true, true, true, true],
      ),
    );
  }

  const errors = results.filter((r) => r.error !== undefined);
  if (errors.length > 0) {
    out.push('', ...errors.map((r) => `${r.scenario} on ${r.broker} failed: ${r.error}`));
  }
  const warnings = results.filter((r) => r.error === undefined && !r.warmupDrained);
  if (warnings.length > 0) {
    out.push('', ...warnings.map((r) => `${r.scenario} on ${r.broker}: the warm-up did not drain in time`));
  }
  const misrouted = results.filter((r) => r.error === undefined && r.misrouted > 0);
  if (misrouted.length > 0) {
    out.push('', ...misrouted.map((r) => `${r.scenario} on ${r.broker}: ${r.misrouted} messages reached a consumer whose selector excludes them`));
  }

  // Ferry against the best of the other brokers that ran the scenario: the highest throughput, the
  // lowest CPU per delivery, the lowest memory per connection, each on its own.
  const best = (values: number[], pick: 'max' | 'min'): number => {
    const finite = values.filter((v) => Number.isFinite(v));
    return finite.length === 0 ? Number.NaN : pick === 'max' ? Math.max(...finite) : Math.min(...finite);
  };
  const ratioRows: string[][] = [];
  for (const scenario of scenarios) {
    const ok = results.filter((r) => r.scenario === scenario.name && r.error === undefined);
    const ferry = ok.find((r) => r.broker === 'ferry');
    const others = ok.filter((r) => r.broker !== 'ferry');
    if (ferry === undefined || others.length === 0) continue;
    const against = others.map((r) => r.broker).join(', ');
    const paced = scenario.ratePerSecond !== undefined;
    if (ferry.idle !== undefined) {
      const idles = others.flatMap((r) => (r.idle === undefined ? [] : [r.idle]));
      ratioRows.push([
        scenario.name,
        fixed(ferry.idle.connectsPerSecond / best(idles.map((i) => i.connectsPerSecond), 'max'), 2),
        '',
        fixed(ferry.idle.idleBytesPerConnection / best(idles.map((i) => i.idleBytesPerConnection), 'min'), 2),
        '',
        '',
        against,
      ]);
      continue;
    }
    ratioRows.push([
      scenario.name,
      fixed(ferry.deliveriesPerSecond / best(others.map((r) => r.deliveriesPerSecond), 'max'), 2),
      fixed(ferry.brokerCpuUsPerDelivery / best(others.map((r) => r.brokerCpuUsPerDelivery), 'min'), 2),
      '',
      // only at a fixed rate is the latency the brokers' own; unpaced, it is mostly time in the window
      paced ? fixed(ferry.latencyMs.p99 / best(others.map((r) => r.latencyMs.p99), 'min'), 2) : '',
      paced ? fixed(ferry.latencyMs.p999 / best(others.map((r) => r.latencyMs.p999), 'min'), 2) : '',
      against,
    ]);
  }
  const security = securityRows(results, scenarios);
  if (security.length > 0) {
    out.push(
      '',
      'What security costs: each broker with TLS, a login and authorization against itself without them (secure / plain),\n' +
        'and Ferry against ActiveMQ with them on (throughput: higher is better; CPU per delivery: lower is better)',
      table(['scenario', 'compared', 'throughput', 'CPU/delivery'], security, [false, false, true, true]),
    );
  }
  if (ratioRows.length > 0) {
    out.push(
      '',
      'Ferry / the best other broker (throughput or connects/s: higher is better; CPU per delivery, memory per connection,\n' +
        'latency at a fixed rate: lower is better)',
      table(['scenario', 'throughput', 'CPU/delivery', 'memory/conn', 'p99', 'p99.9', 'against'], ratioRows, [false, true, true, true, true, true, false]),
    );
  }
  return out.join('\n');
}

/**
 * For each secure scenario: every broker's secure figure over its own plain one (the scenario named
 * by `secureOf`, same run), then Ferry's secure figure over each other broker's. Throughput and
 * broker CPU per delivery, each on its own; a pair with a failed side is left out.
 */
export function securityRows(results: readonly ScenarioResult[], scenarios: readonly Scenario[]): string[][] {
  const rows: string[][] = [];
  const ok = (scenario: string, broker: string): ScenarioResult | undefined =>
    results.find((r) => r.scenario === scenario && r.broker === broker && r.error === undefined);
  const ratios = (a: ScenarioResult, b: ScenarioResult): string[] => [
    fixed(a.deliveriesPerSecond / b.deliveriesPerSecond, 2),
    fixed(a.brokerCpuUsPerDelivery / b.brokerCpuUsPerDelivery, 2),
  ];
  for (const scenario of scenarios) {
    const plainName = scenario.secureOf;
    if (plainName === undefined) continue;
    const brokers = [...new Set(results.filter((r) => r.scenario === scenario.name).map((r) => r.broker))];
    for (const broker of brokers) {
      const secure = ok(scenario.name, broker);
      const plain = ok(plainName, broker);
      if (secure !== undefined && plain !== undefined) rows.push([scenario.name, `${broker}: secure / plain`, ...ratios(secure, plain)]);
    }
    const ferry = ok(scenario.name, 'ferry');
    if (ferry === undefined) continue;
    for (const broker of brokers.filter((b) => b !== 'ferry')) {
      const other = ok(scenario.name, broker);
      if (other !== undefined) rows.push([scenario.name, `secure: ferry / ${broker}`, ...ratios(ferry, other)]);
    }
  }
  return rows;
}

export function writeResults(
  folder: string,
  startedAt: Date,
  options: Record<string, unknown>,
  scenarios: readonly Scenario[],
  results: readonly ScenarioResult[],
): string {
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
  };
  // NaN (no samples) is written as null by JSON.stringify, which is what a reader expects.
  writeFileSync(file, JSON.stringify({ startedAt: startedAt.toISOString(), machine, options, scenarios, results }, null, 2) + '\n');
  return file;
}
