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
  const rows = results.map((r) => {
    const kind = scenarios.find((s) => s.name === r.scenario)?.kind;
    if (r.error !== undefined) return [r.scenario, r.broker, 'failed', '', '', '', '', '', ''];
    return [
      r.scenario,
      r.broker,
      grouped(r.deliveriesPerSecond) + (kind === 'topic' ? ' dlv' : ''),
      fixed(r.latencyMs.p50, 2),
      fixed(r.latencyMs.p99, 2),
      fixed(r.brokerCpuUsPerDelivery, 1),
      String(r.lost),
      String(r.duplicates + r.unreadable),
      fixed(r.loadGeneratorCores * 100, 0),
    ];
  });
  const out = [
    table(
      ['scenario', 'broker', 'msgs/s', 'p50 ms', 'p99 ms', 'CPU µs/msg', 'lost', 'dups', 'load CPU%'],
      rows,
      [false, false, true, true, true, true, true, true, true],
    ),
  ];

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

  const ratioRows: string[][] = [];
  for (const scenario of scenarios) {
    const ferry = results.find((r) => r.scenario === scenario.name && r.broker === 'ferry' && r.error === undefined);
    const amq = results.find((r) => r.scenario === scenario.name && r.broker === 'activemq' && r.error === undefined);
    if (ferry === undefined || amq === undefined) continue;
    ratioRows.push([
      scenario.name,
      fixed(ferry.deliveriesPerSecond / amq.deliveriesPerSecond, 2),
      fixed(ferry.brokerCpuUsPerDelivery / amq.brokerCpuUsPerDelivery, 2),
    ]);
  }
  if (ratioRows.length > 0) {
    out.push(
      '',
      'Ferry / ActiveMQ (throughput: higher is better; CPU per delivery: lower is better)',
      table(['scenario', 'throughput', 'CPU/delivery'], ratioRows, [false, true, true]),
    );
  }
  return out.join('\n');
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
