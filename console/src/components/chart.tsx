import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Series {
  readonly label: string;
  /** A CSS colour class suffix: the palette lives in the stylesheet. */
  readonly tone: 'teal' | 'indigo' | 'amber' | 'rose';
  readonly values: readonly number[];
}

/** The y axis's top: four round steps (1, 2, 2.5 or 5 times a power of ten) that reach the data's top; whole steps for counts. */
function niceCeiling(max: number, whole: boolean): number {
  if (max <= 0) return 4;
  const quarter = whole ? Math.max(1, max / 4) : max / 4;
  const power = 10 ** Math.floor(Math.log10(quarter));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= quarter) return 4 * step * power;
  return 40 * power;
}

/**
 * A live line chart in SVG: the last `capacity` samples, newest on the right, a few horizontal
 * grid lines with their values, the first series filled below its line. Sized to its box (a
 * ResizeObserver), so text stays crisp instead of being stretched with a viewBox.
 */
export function LineChart(props: {
  series: readonly Series[];
  /** The most samples shown; fewer fill the width once there are at least a minute's worth. */
  capacity: number;
  height?: number;
  format: (n: number) => string;
  intervalSeconds: number;
  /** The values are counts: the axis steps are whole numbers. */
  whole?: boolean;
}): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(600);
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const observer = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w !== undefined && w > 0) setWidth(Math.floor(w));
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const height = props.height ?? 180;
  const left = 52;
  const right = 12;
  const top = 10;
  const bottom = 22;
  const plotW = Math.max(10, width - left - right);
  const plotH = height - top - bottom;
  const max = niceCeiling(Math.max(0, ...props.series.flatMap((s) => s.values)), props.whole === true);
  // the time axis starts at a minute and widens with the history, up to `capacity` samples
  const samples = Math.max(...props.series.map((s) => s.values.length), 0);
  const span = Math.min(props.capacity, Math.max(Math.ceil(60 / props.intervalSeconds) + 1, samples));
  const x = (i: number): number => left + (plotW * (span - 1 - i)) / Math.max(1, span - 1);
  const y = (v: number): number => top + plotH - (plotH * v) / max;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const spanSeconds = (span - 1) * props.intervalSeconds;

  const path = (values: readonly number[]): string => {
    // values[values.length - 1] is the newest; i counts back from it
    const points: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[values.length - 1 - i]!;
      points.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    }
    return points.length === 0 ? '' : `M${points.join('L')}`;
  };

  return (
    <div class="chart" ref={box}>
      <svg width={width} height={height} role="img" aria-label={props.series.map((s) => s.label).join(', ')}>
        {ticks.map((t) => (
          <g>
            <line class="chart-grid" x1={left} x2={left + plotW} y1={y(t)} y2={y(t)} />
            <text class="chart-tick" x={left - 8} y={y(t) + 4} text-anchor="end">
              {props.format(t)}
            </text>
          </g>
        ))}
        <text class="chart-tick" x={left} y={height - 4}>
          {spanSeconds >= 120 ? `${Math.round(spanSeconds / 60)} min ago` : `${Math.round(spanSeconds)} s ago`}
        </text>
        <text class="chart-tick" x={left + plotW} y={height - 4} text-anchor="end">
          now
        </text>
        {props.series.map((s, index) => {
          const d = path(s.values);
          if (d === '') return null;
          const oldest = x(s.values.length - 1);
          const area = index === 0 ? `${d}L${oldest.toFixed(1)},${y(0)}L${x(0).toFixed(1)},${y(0)}Z` : undefined;
          return (
            <g class={`series series-${s.tone}`}>
              {area !== undefined && <path class="chart-area" d={area} />}
              <path class="chart-line" d={d} />
              {s.values.length > 0 && <circle class="chart-dot" cx={x(0)} cy={y(s.values[s.values.length - 1]!)} r={3} />}
            </g>
          );
        })}
      </svg>
      {props.series.length > 1 && (
        <div class="chart-legend">
          {props.series.map((s) => (
            <span class={`legend series-${s.tone}`}>
              <i aria-hidden="true" />
              {s.label}
              <b>{s.values.length > 0 ? props.format(s.values[s.values.length - 1]!) : '–'}</b>
            </span>
          ))}
        </div>
      )}
    </div>
  );
}
