import { readFileSync } from 'node:fs';

/** The dashboard in docs/grafana and how to read the metric names out of its PromQL. */

export const readRepoFile = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

export interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}
export interface Dashboard {
  templating: { list: { name: string; type: string; query?: unknown }[] };
  panels: Panel[];
}

export function readDashboard(): Dashboard {
  return JSON.parse(readRepoFile('docs/grafana/ferry.json')) as Dashboard;
}

const promqlWords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'le']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or strings. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?/g)].filter((m) => m[2] === undefined && !promqlWords.has(m[1]!)).map((m) => m[1]!);
}

/** Every metric name the dashboard's panels query. */
export function dashboardMetrics(dashboard = readDashboard()): Set<string> {
  return new Set(dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))));
}
