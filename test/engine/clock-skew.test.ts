// A node whose clock runs 3 s ahead of PostgreSQL's: it measures the offset at its
// heartbeats, shows it in /api/cluster and /metrics, and fires by the corrected time,
// so nothing starts early by more than the measured uncertainty. The same node with the
// correction off fires 3 s early (and, going by its own clock, cannot tell).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/server/time/clock.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { api, eventually } from '../support/node.js';

const AHEAD_MS = 3000;
const ahead: Clock = { ...systemClock, now: () => new Date(Date.now() + AHEAD_MS) };

let corrected: TestApp;
let raw: TestApp;
beforeAll(async () => {
  corrected = await startTestApp({ nodeId: 'skewed-corrected', clock: ahead, correctClock: true });
  raw = await startTestApp({ nodeId: 'skewed-raw', clock: ahead, correctClock: false });
});
afterAll(async () => {
  await corrected?.stop();
  await raw?.stop();
});

type Run = { status: string; scheduledFor: string; startedAt: string | null; lagMs: number | null; nodeId: string | null };

/** Creates a task on `app` due in `inMs` (real time) and records when the test first sees it run (real time). */
async function fireAndWatch(app: TestApp, inMs: number) {
  const at = new Date(Date.now() + inMs);
  const res = await api(app.url, 'POST', '/api/tasks', { name: 'skew', schedule: { type: 'once', at: at.toISOString() } });
  expect(res.status).toBe(201);
  const { run, seenAt } = await eventually(async () => {
    const r = (await api<{ items: Run[] }>(app.url, 'GET', `/api/runs?taskId=${res.body.id}`)).body.items[0];
    return r?.status === 'succeeded' ? { run: r, seenAt: Date.now() } : undefined;
  }, 20_000, 20);
  return { at, run, seenAt };
}

describe('clock skew', () => {
  it('the offset is measured and exposed: /api/cluster and /metrics', async () => {
    const nodes = await eventually(async () => {
      const c = (await api(corrected.url, 'GET', '/api/cluster')).body.nodes as { id: string; clockOffsetMs: number | null; clockUncertaintyMs: number | null }[];
      const me = c.find((n) => n.id === 'skewed-corrected');
      return me?.clockOffsetMs != null ? c : undefined;
    }, 10_000);
    const me = nodes.find((n) => n.id === 'skewed-corrected')!;
    expect(me.clockOffsetMs!).toBeGreaterThan(-AHEAD_MS - 100);
    expect(me.clockOffsetMs!).toBeLessThan(-AHEAD_MS + 100);
    expect(me.clockUncertaintyMs!).toBeGreaterThanOrEqual(0);
    const metrics = await (await fetch(`${corrected.url}/metrics`)).text();
    const offset = Number(metrics.match(/^sundial_clock_offset_seconds (\S+)$/m)?.[1]);
    expect(offset).toBeCloseTo(-AHEAD_MS / 1000, 0);
  });

  it('a corrected node does not fire early; uncorrected, the same clock fires 3 s early', async () => {
    const good = await fireAndWatch(corrected, 4000);
    // the test saw it succeed only after its real time, and the recorded lag is not negative beyond the bound
    expect(good.seenAt).toBeGreaterThanOrEqual(good.at.getTime());
    expect(good.run.lagMs!).toBeGreaterThan(-100);
    const bad = await fireAndWatch(raw, 5000);
    expect(bad.seenAt).toBeLessThan(bad.at.getTime() - 1000);
    // by its own clock it was on time: only the correction makes early firing visible
    expect(Math.abs(bad.run.lagMs!)).toBeLessThan(200);
  });
});
