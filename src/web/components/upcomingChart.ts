// Geometry for the overview's upcoming-load chart, a pure function of the data: stacked
// bars of one-time and recurring occurrences per minute. When there are more minutes than
// the plot has room for bars (24 h is 1,440), neighbouring minutes are merged into one bar
// and the bar shows their sum, so a spike stays as tall as it is.
import type { UpcomingBucket } from '../../shared/schemas';
import { niceCeil } from './lagChart';

export interface UpcomingBar {
  x: number;
  width: number;
  at: string;
  minutes: number;
  once: number;
  recurring: number;
  onceY: number;
  onceHeight: number;
  recurringY: number;
  recurringHeight: number;
}

export interface UpcomingGeometry {
  plot: { left: number; top: number; right: number; bottom: number };
  yMax: number;
  yTicks: { y: number; value: number }[];
  xTicks: { x: number; at: string }[];
  bars: UpcomingBar[];
  /** minutes per bar */
  merge: number;
  peak: { at: string; total: number; minutes: number } | null;
}

/** Minutes per bar so bars are at least `minBarPx` wide: 1, 2, 5, 10, 15, 30 or 60. */
export function mergeFactor(buckets: number, plotWidth: number, minBarPx = 2): number {
  for (const m of [1, 2, 5, 10, 15, 30, 60]) if (plotWidth / Math.ceil(buckets / m) >= minBarPx) return m;
  return 60;
}

export function mergeBuckets(buckets: UpcomingBucket[], merge: number): { at: string; minutes: number; once: number; recurring: number }[] {
  const out: { at: string; minutes: number; once: number; recurring: number }[] = [];
  for (let i = 0; i < buckets.length; i += merge) {
    const slice = buckets.slice(i, i + merge);
    out.push({
      at: slice[0]!.at,
      minutes: slice.length,
      once: slice.reduce((n, b) => n + b.once, 0),
      recurring: slice.reduce((n, b) => n + b.recurring, 0),
    });
  }
  return out;
}

/** "950", "12.5k", "1.2M": axis labels that fit in the margin. */
export function formatCount(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1_000_000) return `${+(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${+(n / 1_000_000).toFixed(1)}M`;
}

export function upcomingGeometry(buckets: UpcomingBucket[], width: number, height: number): UpcomingGeometry {
  const plot = { left: 48, top: 10, right: width - 8, bottom: height - 24 };
  const merge = mergeFactor(buckets.length, plot.right - plot.left);
  const merged = mergeBuckets(buckets, merge);
  const n = merged.length;
  const step = n > 0 ? (plot.right - plot.left) / n : 0;
  const max = Math.max(0, ...merged.map((b) => b.once + b.recurring));
  const yMax = max > 0 ? niceCeil(max) : 10;
  const h = (v: number) => (v / yMax) * (plot.bottom - plot.top);
  const gap = step > 4 ? 1 : 0;
  const bars = merged.map((b, i) => {
    const x = plot.left + i * step;
    const recurringHeight = h(b.recurring);
    const onceHeight = h(b.once);
    return {
      ...b,
      x,
      width: Math.max(1, step - gap),
      recurringY: plot.bottom - recurringHeight,
      recurringHeight,
      onceY: plot.bottom - recurringHeight - onceHeight,
      onceHeight,
    };
  });
  let peak: UpcomingGeometry['peak'] = null;
  for (const b of merged) if (b.once + b.recurring > (peak?.total ?? 0)) peak = { at: b.at, total: b.once + b.recurring, minutes: b.minutes };
  const yTicks = [0, 0.5, 1].map((f) => ({ y: plot.bottom - h(yMax * f), value: yMax * f }));
  // Ticks on round times (whole hours in whole-hour zones), as many as fit 90 px apart.
  const tickEvery = [15, 30, 60, 120, 180, 360, 720].find((m) => (buckets.length / m) * 90 <= plot.right - plot.left) ?? 720;
  const xTicks = merged.flatMap((b, i) => {
    const minute = Math.floor(Date.parse(b.at) / 60_000);
    const first = Math.ceil(minute / tickEvery) * tickEvery;
    return first < minute + b.minutes ? [{ x: plot.left + (i + (first - minute) / b.minutes) * step, at: new Date(first * 60_000).toISOString() }] : [];
  });
  return { plot, yMax, yTicks, xTicks, bars, merge, peak };
}
