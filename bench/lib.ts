// Small helpers of the benchmark harness: exact percentiles, /proc accounting, ports,
// waiting. No dependency on the systems under test.
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface LagStats {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** The nearest-rank percentile `p` (0–1) of an ascending list; NaN for an empty one. */
export function pct(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** Exact percentiles (nearest rank) of a list of lags in ms. */
export function lagStats(values: ArrayLike<number>): LagStats | null {
  const a = Float64Array.from(Array.from(values).filter((v) => Number.isFinite(v))).sort();
  if (!a.length) return null;
  const q = (p: number) => pct(a, p);
  let sum = 0;
  for (const v of a) sum += v;
  return { n: a.length, min: a[0]!, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: a[a.length - 1]!, mean: sum / a.length };
}

/** Points of the empirical distribution, for the chart: [lag ms, fraction ≤ lag]. */
export function cdfPoints(values: ArrayLike<number>, points = 200): [number, number][] {
  const a = Float64Array.from(Array.from(values).filter((v) => Number.isFinite(v))).sort();
  if (!a.length) return [];
  const out: [number, number][] = [];
  for (let k = 0; k <= points; k++) {
    const idx = Math.min(a.length - 1, Math.floor((k / points) * (a.length - 1)));
    out.push([a[idx]!, (idx + 1) / a.length]);
  }
  return out;
}

const CLK_TCK = 100;

/** utime+stime (seconds) of one live process, and its peak RSS (MB, VmHWM). */
export function procUsage(pid: number): { cpu: number; peakRssMb: number; rssMb: number; cutime: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    const cpu = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    const cutime = (Number(f[13]) + Number(f[14])) / CLK_TCK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+)/.exec(status);
    const rss = /VmRSS:\s+(\d+)/.exec(status);
    return { cpu, cutime, peakRssMb: hwm ? Number(hwm[1]) / 1024 : 0, rssMb: rss ? Number(rss[1]) / 1024 : 0 };
  } catch {
    return null;
  }
}

/**
 * CPU seconds of a PostgreSQL server so far: the postmaster, what it has reaped from
 * exited backends (cutime), and every live child. Differences of two readings give
 * the server's CPU over a phase.
 */
export function pgCpu(postmasterPid: number): number {
  const pm = procUsage(postmasterPid);
  if (!pm) return 0;
  let total = pm.cpu + pm.cutime;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === postmasterPid) total += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}

export const fmtMs = (v: number | undefined | null) => {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (Math.abs(v) >= 10) return `${v.toFixed(0)} ms`;
  return `${v.toFixed(1)} ms`;
};

export const fmtInt = (v: number | undefined | null) =>
  v === undefined || v === null || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
