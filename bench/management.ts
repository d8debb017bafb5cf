// `node dist/bench/management.js`: the management API with many queues. Starts Ferry as a child
// process, creates `--queues` queues through the API (every tenth gets messages, so depths differ),
// then times list, filter and sort requests of GET /api/v1/destinations, one after another over one
// keep-alive connection, and reports the median and p99 time per request. The target is under
// 100 ms each with 10,000 queues. ActiveMQ has no comparable call (its console and Jolokia page
// through MBeans), so the figures stand against that target.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError, positive } from './args.js';
import { stopAll } from './children.js';
import { startFerry } from './ferry.js';

const USAGE = `usage: npm run build && node dist/bench/management.js [options]

  --queues N         queues to create (default 10000)
  --requests N       timed requests per query (default 200)
  --ferry-main FILE  Ferry's CLI entry point (default dist/src/cli/main.js of this build)
  --results DIR      folder for the JSON result (default bench/results)
`;

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const TARGET_MS = 100;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      queues: { type: 'string' },
      requests: { type: 'string' },
      'ferry-main': { type: 'string' },
      results: { type: 'string', default: RESULTS_DIR },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) throw new UsageError('');
  return { queues: positive('queues', values.queues, 10_000, true), requests: positive('requests', values.requests, 200, true), main: values['ferry-main'], results: values.results };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof UsageError && err.message !== '' ? `${err.message}\n` : ''}${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const ferry = await startFerry({ ...(options.main === undefined ? {} : { main: options.main }), args: ['--http-port', '0'] });
  try {
    const port = ferry.ports?.['http'];
    if (port === undefined) throw new Error('Ferry reported no http listener');
    const base = `http://127.0.0.1:${port}`;
    const call = async (method: string, url: string, body?: unknown): Promise<unknown> => {
      const res = await fetch(base + url, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    };

    const setupStart = performance.now();
    const width = String(options.queues - 1).length;
    const names: string[] = [];
    for (let i = 0; i < options.queues; i++) names.push(`bench.q.${String(i).padStart(width, '0')}`);
    // a few requests at a time, as a script creating them would
    for (let i = 0; i < names.length; i += 16) {
      await Promise.all(names.slice(i, i + 16).map((name) => call('POST', '/api/v1/destinations', { kind: 'queue', name })));
    }
    for (let i = 0; i < names.length; i += 10) {
      const depth = 1 + ((i / 10) % 5);
      for (let m = 0; m < depth; m++) await call('POST', `/api/v1/destinations/queue/${names[i]}/messages`, { body: 'x', persistent: false });
    }
    const setupMs = performance.now() - setupStart;

    const queries: [string, string][] = [
      ['list, first page (name order, 50)', '/api/v1/destinations?kind=queue'],
      ['list, last page', `/api/v1/destinations?kind=queue&offset=${Math.max(0, options.queues - 50)}`],
      ['sort by depth, descending', '/api/v1/destinations?kind=queue&sort=depth&order=desc'],
      ['sort by enqueued, 1000 a page', '/api/v1/destinations?sort=enqueued&order=desc&limit=1000'],
      ['filter glob bench.q.*7*', `/api/v1/destinations?filter=${encodeURIComponent('bench.q.*7*')}`],
      ['filter and sort by name desc', `/api/v1/destinations?filter=${encodeURIComponent('bench.q.1*')}&sort=name&order=desc`],
    ];
    const results: { query: string; url: string; medianMs: number; p99Ms: number; maxMs: number; total: number }[] = [];
    for (const [query, url] of queries) {
      for (let i = 0; i < 10; i++) await call('GET', url);
      const times: number[] = [];
      let total = 0;
      for (let i = 0; i < options.requests; i++) {
        const started = performance.now();
        total = ((await call('GET', url)) as { total: number }).total;
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      results.push({ query, url, medianMs: percentile(times, 50), p99Ms: percentile(times, 99), maxMs: times[times.length - 1]!, total });
    }

    const lines = [
      `management API, ${options.queues} queues (created in ${(setupMs / 1000).toFixed(1)} s), ${options.requests} requests per query, target < ${TARGET_MS} ms; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores`,
      '',
      '| query | matched | median ms | p99 ms | p99 / target |',
      '|---|---:|---:|---:|---:|',
      ...results.map((r) => `| ${r.query} | ${r.total} | ${r.medianMs.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${(r.p99Ms / TARGET_MS).toFixed(2)} |`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    mkdirSync(options.results, { recursive: true });
    const file = path.join(options.results, `management-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version, loadAverage: os.loadavg() }, options, setupMs, results }, null, 2));
  } finally {
    await ferry.stop();
    await stopAll();
  }
}

await main();
