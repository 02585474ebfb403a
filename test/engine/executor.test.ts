// The executor on a ManualClock: every timer and every reading of the time goes
// through the clock, so firing order, start times and lateness are exact, with no sleep.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/server/metrics.js';
import { Executor, type FiringGate } from '../../src/server/scheduler/executor.js';
import { InFlight } from '../../src/server/scheduler/service.js';
import type { ClaimedRun, RunResult } from '../../src/server/store/runs.js';
import { ManualClock } from '../../src/server/time/clock.js';

const T0 = new Date('2027-06-01T09:00:00Z');

function setup(opts: { gate?: FiringGate } = {}) {
  const clock = new ManualClock(T0);
  const results: RunResult[] = [];
  const webhooks: { run: ClaimedRun; late: boolean; reason: string | null }[] = [];
  const inFlight = new InFlight();
  const executor = new Executor({
    clock,
    recorder: { add: (r) => results.push(r) },
    inFlight,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    misfireThresholdMs: 10_000,
    webhooks: { deliver: (run, late, reason) => webhooks.push({ run, late, reason }) },
    gate: opts.gate,
  });
  executor.start();
  return { clock, results, webhooks, inFlight, executor };
}

let seq = 0;
const run = (atMs: number, over: Partial<ClaimedRun> = {}): ClaimedRun => ({
  id: String(++seq),
  taskId: `task-${seq}`,
  scheduledFor: new Date(T0.getTime() + atMs),
  attempt: 1,
  late: false,
  trigger: 'schedule',
  reason: null,
  actionType: 'log',
  kind: 'once',
  misfirePolicy: 'fire_once',
  rescued: false,
  ...over,
});

describe('Executor on a manual clock', () => {
  it('fires each held run at its instant, in order, with that instant as its start time', async () => {
    const { clock, results, executor, inFlight } = setup();
    const [a, b, c] = [run(300), run(100), run(200)];
    executor.hold([a, b, c]);
    expect(inFlight.count).toBe(3);
    clock.advance(99);
    expect(results).toHaveLength(0);
    clock.advance(1);
    expect(results.map((r) => r.id)).toEqual([b.id]);
    clock.advance(500);
    expect(results.map((r) => r.id)).toEqual([b.id, c.id, a.id]);
    for (const r of results) {
      const held = [a, b, c].find((x) => x.id === r.id)!;
      expect(r.startedAt).toEqual(held.scheduledFor);
      expect(r).toMatchObject({ status: 'succeeded', late: false, reason: null, attempt: 1 });
    }
    // recorded results stay in the account until the recorder has written them
    expect(inFlight.count).toBe(3);
    await executor.stop();
  });

  it('counts the timer wakes that found runs due, and the late ones (the API paces bulk writes by them)', async () => {
    const { clock, executor } = setup();
    expect(executor.timerLateness()).toEqual({ wakes: 0, late: 0 });
    executor.hold([run(100), run(100)]);
    clock.advance(100);
    expect(executor.timerLateness()).toEqual({ wakes: 1, late: 0 });
    clock.advance(1000);
    // held 1 s after its time: the wake that fires it is late
    executor.hold([run(100)]);
    clock.advance(0);
    expect(executor.timerLateness()).toEqual({ wakes: 2, late: 1 });
    await executor.stop();
  });

  it('a run held after its time fires at once; past the threshold it is late and says by how much', async () => {
    const { clock, results, executor } = setup();
    clock.advance(12_400);
    const r = run(0);
    executor.hold([r]);
    clock.advance(0);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ late: true, reason: 'fired 12 s late' });
    await executor.stop();
  });

  it('a webhook run goes to the deliverer with its lateness (its start is taken when its request is sent); nothing is recorded here', async () => {
    const { clock, results, webhooks, executor } = setup();
    const w = run(50, { actionType: 'webhook' });
    executor.hold([w]);
    clock.advance(60);
    expect(results).toHaveLength(0);
    expect(webhooks).toEqual([{ run: w, late: false, reason: null }]);
    await executor.stop();
  });

  it('a cancelled task\'s held runs are dropped and leave the account; a deletion drops manual runs too', async () => {
    const { clock, results, executor, inFlight } = setup();
    const keep = run(100);
    const s1 = run(100, { taskId: 'edited' });
    const m1 = run(100, { taskId: 'edited', trigger: 'manual' });
    executor.hold([keep, s1, m1]);
    expect(executor.forgetTask('edited')).toBe(1);
    expect(inFlight.has(s1.id)).toBe(false);
    expect(executor.forgetTask('edited', true)).toBe(1);
    clock.advance(200);
    expect(results.map((r) => r.id)).toEqual([keep.id]);
    await executor.stop();
  });

  it('holding a run it already has (a refresh, a reconcile) does not fire it twice', async () => {
    const { clock, results, executor } = setup();
    const r = run(100);
    executor.hold([r]);
    executor.hold([{ ...r }]);
    clock.advance(200);
    expect(results).toHaveLength(1);
    await executor.stop();
  });

  it('a closed gate holds firing back until it opens; then what is overdue fires', async () => {
    let open = false;
    let reopen: (() => void) | undefined;
    const gate: FiringGate = { open: (cb) => (open ? true : ((reopen = cb), false)) };
    const { clock, results, executor } = setup({ gate });
    executor.hold([run(100), run(200)]);
    clock.advance(1000);
    expect(results).toHaveLength(0);
    open = true;
    reopen!();
    clock.advance(0);
    expect(results).toHaveLength(2);
    expect(results.every((r) => r.startedAt!.getTime() === T0.getTime() + 1000)).toBe(true);
    await executor.stop();
  });

  it('stop leaves no timer behind, closes the account for what it held, and is idempotent', async () => {
    const { clock, executor, inFlight } = setup();
    executor.hold([run(5000), run(6000)]);
    expect(clock.pendingTimers).toBe(1);
    await executor.stop();
    await executor.stop();
    expect(clock.pendingTimers).toBe(0);
    expect(inFlight.count).toBe(0);
    expect(executor.unfiredAtStop).toBe(2);
  });

  it('rescued skip-policy cron runs past their threshold are recorded as skipped, not fired', async () => {
    const { clock, results, executor } = setup();
    clock.advance(20_000);
    executor.hold([run(0, { rescued: true, kind: 'cron', misfirePolicy: 'skip' })]);
    clock.advance(0);
    expect(results[0]).toMatchObject({ status: 'skipped', startedAt: null, reason: 'misfired: skipped by policy (its node was lost)' });
    await executor.stop();
  });
});
