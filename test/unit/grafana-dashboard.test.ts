import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricNames, readDashboard, readRepoFile } from '../helpers/grafana.js';

// The Grafana dashboard in docs/grafana queries only metrics that /metrics serves: every metric name
// in its queries is one docs/management-api.md lists (a histogram's _bucket, _sum and _count with it).

/** The metric names the contract lists under `GET /metrics`, histograms with their series suffixes. */
function contractMetrics(): Set<string> {
  const doc = readRepoFile('docs/management-api.md');
  const start = doc.indexOf('`GET /metrics`');
  assert.ok(start >= 0, 'docs/management-api.md has a GET /metrics entry');
  const section = doc.slice(start, doc.indexOf('\n- ', start));
  const names = new Set<string>();
  for (const m of section.matchAll(/`([a-z_:][a-z0-9_:]*)(\{[^}`]*\})?`( \(histogram\))?/g)) {
    names.add(m[1]!);
    if (m[3] !== undefined) for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${m[1]!}${suffix}`);
  }
  return names;
}

test('metricNames finds the metrics of a query and nothing else', () => {
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, job) (rate(ferry_journal_fsync_seconds_bucket{job=~"$job"}[$__rate_interval])))'), ['ferry_journal_fsync_seconds_bucket']);
  assert.deepEqual(metricNames('sum(rate(a_total{x="y"}[5m])) / sum(b_count)'), ['a_total', 'b_count']);
  assert.deepEqual(metricNames('topk(10, sum by (kind, name) (ferry_destination_depth{kind="queue"}))'), ['ferry_destination_depth']);
});

test('every metric the Ferry dashboard queries is one /metrics serves, filtered by the job variable', () => {
  const dashboard = readDashboard();
  const known = contractMetrics();
  assert.ok(known.has('ferry_destination_depth') && known.has('process_resident_memory_bytes'), `the contract's metrics were found: ${[...known].join(' ')}`);

  const job = dashboard.templating.list.find((v) => v.name === 'job');
  assert.ok(job !== undefined, 'a job variable');
  const jobQuery = typeof job.query === 'string' ? job.query : (job.query as { query: string }).query;
  const jobMetric = /^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*job\)$/.exec(jobQuery);
  assert.ok(jobMetric !== null, `the job variable lists the job label of a metric: ${jobQuery}`);
  const used = new Map<string, string>([[jobMetric[1]!, 'the job variable']]);

  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  assert.ok(panels.length >= 12);
  for (const panel of panels) {
    assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has a query`);
    for (const { expr } of panel.targets ?? []) {
      assert.match(expr, /job=~"\$job"/, `panel "${panel.title}" follows the job variable: ${expr}`);
      const names = metricNames(expr);
      assert.ok(names.length > 0, `panel "${panel.title}" queries a metric: ${expr}`);
      for (const name of names) used.set(name, panel.title);
    }
  }
  const unknown = [...used].filter(([name]) => !known.has(name)).map(([name, where]) => `${name} (${where})`);
  assert.deepEqual(unknown, [], 'metrics the contract does not list');

  // what the dashboard is for: each of these has a panel
  for (const needed of ['ferry_messages_enqueued_total', 'ferry_destination_depth', 'ferry_connections', 'ferry_journal_fsync_seconds_bucket', 'ferry_journal_batch_records_sum', 'ferry_body_cache_bytes', 'nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes']) {
    assert.ok(used.has(needed), `a panel on ${needed}`);
  }
});
