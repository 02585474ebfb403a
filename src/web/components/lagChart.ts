// Geometry for the overview's lag chart, as a pure function of the data so it is testable:
// per-minute p50 / p99 lines over a faint bar per minute for the number of runs.
import type { Stats } from '../../shared/schemas';

export type LagPoint = Stats['lag'][number];

export interface LagChartGeometry {
  width: number;
  height: number;
  plot: { left: number; top: number; right: number; bottom: number };
  yMax: number;
  yTicks: { y: number; value: number }[];
  xTicks: { x: number; label: string }[];
  p50Path: string;
  p99Path: string;
  /** points with a value, drawn as dots so an isolated minute is still visible */
  p50Dots: { x: number; y: number }[];
  p99Dots: { x: number; y: number }[];
  bars: { x: number; y: number; width: number; height: number; runs: number }[];
}

/** The smallest 1, 2 or 5 × 10^n at or above `value`. */
export function niceCeil(value: number): number {
  if (!(value > 0)) return 10;
  const pow = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (m * pow >= value) return m * pow;
  return 10 * pow;
}

/** An SVG path through the non-null values; a null breaks the line. */
export function linePath(values: (number | null)[], x: (i: number) => number, y: (v: number) => number): string {
  let path = '';
  let drawing = false;
  values.forEach((value, i) => {
    if (value === null || !Number.isFinite(value)) {
      drawing = false;
      return;
    }
    path += `${drawing ? 'L' : 'M'}${x(i).toFixed(1)},${y(value).toFixed(1)}`;
    drawing = true;
  });
  return path;
}

export const WINDOW_MINUTES = 30;

/**
 * One slot per minute for the `minutes` minutes ending at the minute of `now` (or of the
 * latest point, if later): the server may leave out minutes without runs, and the x axis is
 * time, not the index of a point.
 */
export function minuteSlots(points: LagPoint[], now: number, minutes = WINDOW_MINUTES): LagPoint[] {
  const byMinute = new Map(points.map((p) => [Math.floor(Date.parse(p.minute) / 60_000), p]));
  const latest = Math.max(Math.floor(now / 60_000), ...byMinute.keys());
  const slots: LagPoint[] = [];
  for (let m = latest - minutes + 1; m <= latest; m++) {
    slots.push(byMinute.get(m) ?? { minute: new Date(m * 60_000).toISOString(), runs: 0, p50Ms: null, p99Ms: null });
  }
  return slots;
}

function dots(values: (number | null)[], x: (i: number) => number, y: (v: number) => number) {
  return values.flatMap((v, i) => (v === null || !Number.isFinite(v) ? [] : [{ x: x(i), y: y(v) }]));
}

/** Axis label: "250 ms", "20 s", "2 min". */
export function formatAxisMs(ms: number): string {
  if (ms < 1000) return `${+ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)} s`;
  return `${+(ms / 60_000).toFixed(1)} min`;
}

export function lagChartGeometry(points: LagPoint[], width: number, height: number, formatMinute: (iso: string) => string): LagChartGeometry {
  const plot = { left: 56, top: 10, right: width - 8, bottom: height - 24 };
  const n = points.length;
  const step = n > 1 ? (plot.right - plot.left) / (n - 1) : 0;
  const x = (i: number) => (n > 1 ? plot.left + i * step : (plot.left + plot.right) / 2);
  const maxLag = Math.max(0, ...points.map((p) => Math.max(p.p50Ms ?? 0, p.p99Ms ?? 0)));
  const yMax = niceCeil(maxLag);
  const y = (v: number) => plot.bottom - (Math.min(v, yMax) / yMax) * (plot.bottom - plot.top);
  const maxRuns = Math.max(1, ...points.map((p) => p.runs));
  const barWidth = Math.max(2, (n > 1 ? step : plot.right - plot.left) * 0.6);
  const bars = points.map((p, i) => {
    const h = (p.runs / maxRuns) * (plot.bottom - plot.top) * 0.35;
    return { x: x(i) - barWidth / 2, y: plot.bottom - h, width: barWidth, height: h, runs: p.runs };
  });
  const yTicks = [0, 0.5, 1].map((f) => ({ y: y(yMax * f), value: yMax * f }));
  const tickIdx = n === 0 ? [] : [...new Set([0, Math.floor((n - 1) / 2), n - 1])];
  const xTicks = tickIdx.map((i) => ({ x: x(i), label: formatMinute(points[i]!.minute) }));
  return {
    width,
    height,
    plot,
    yMax,
    yTicks,
    xTicks,
    p50Path: linePath(points.map((p) => p.p50Ms), x, y),
    p99Path: linePath(points.map((p) => p.p99Ms), x, y),
    p50Dots: dots(points.map((p) => p.p50Ms), x, y),
    p99Dots: dots(points.map((p) => p.p99Ms), x, y),
    bars,
  };
}
