import { describe, expect, it } from 'vitest';
import { MISFIRE_BATCH, planClaim, planFire, planFireDue, type DueTask, type HeldOccurrence } from './plan.js';

const THRESHOLD = 10_000;
const cronTask = (over: Partial<DueTask>): DueTask => ({
  id: 't1',
  kind: 'cron',
  cronExpression: '*/5 * * * *',
  timezone: 'UTC',
  startAt: null,
  endAt: null,
  misfirePolicy: 'fire_once',
  nextRunAt: new Date('2027-01-01T10:00:00Z'),
  ...over,
});

describe('planClaim', () => {
  it('an on-time cron occurrence becomes one pending run and the task advances', () => {
    const p = planClaim(cronTask({}), new Date('2027-01-01T09:59:59Z'), THRESHOLD);
    expect(p.runs).toEqual([{ scheduledFor: new Date('2027-01-01T10:00:00Z'), status: 'pending', late: false, reason: null }]);
    expect(p.nextRunAt).toEqual(new Date('2027-01-01T10:05:00Z'));
    expect(p.state).toBe('active');
  });

  it('late by less than the threshold still fires normally', () => {
    const p = planClaim(cronTask({}), new Date('2027-01-01T10:00:09Z'), THRESHOLD);
    expect(p.runs.map((r) => r.status)).toEqual(['pending']);
    expect(p.runs[0]!.late).toBe(false);
  });

  it('fire_once after downtime: the latest missed occurrence fires late, the others are recorded as skipped', () => {
    const p = planClaim(cronTask({}), new Date('2027-01-01T10:17:00Z'), THRESHOLD);
    expect(p.runs.map((r) => [r.scheduledFor.toISOString(), r.status])).toEqual([
      ['2027-01-01T10:00:00.000Z', 'skipped'],
      ['2027-01-01T10:05:00.000Z', 'skipped'],
      ['2027-01-01T10:10:00.000Z', 'skipped'],
      ['2027-01-01T10:15:00.000Z', 'pending'],
    ]);
    expect(p.runs[3]!.late).toBe(true);
    expect(p.runs[3]!.reason).toMatch(/fired once late, 3 earlier missed/);
    expect(p.runs[0]!.reason).toMatch(/coalesced/);
    expect(p.nextRunAt).toEqual(new Date('2027-01-01T10:20:00Z'));
  });

  it('skip after downtime: every missed occurrence is recorded as skipped, none fires', () => {
    const p = planClaim(cronTask({ misfirePolicy: 'skip' }), new Date('2027-01-01T10:17:00Z'), THRESHOLD);
    expect(p.runs.map((r) => r.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    expect(p.runs.every((r) => r.reason === 'misfired: skipped by policy')).toBe(true);
    expect(p.nextRunAt).toEqual(new Date('2027-01-01T10:20:00Z'));
  });

  it('a very long outage is accounted for in batches, and fire_once fires only in the last one', () => {
    const task = cronTask({ cronExpression: '* * * * * *', nextRunAt: new Date('2027-01-01T00:00:00Z') });
    const now = new Date('2027-01-01T00:30:00Z'); // 1800 missed seconds
    const first = planClaim(task, now, THRESHOLD);
    expect(first.runs).toHaveLength(MISFIRE_BATCH);
    expect(first.runs.every((r) => r.status === 'skipped')).toBe(true);
    const second = planClaim({ ...task, nextRunAt: first.nextRunAt }, now, THRESHOLD);
    const fired = second.runs.filter((r) => r.status === 'pending');
    expect(fired).toHaveLength(1);
    expect(fired[0]!.scheduledFor).toEqual(new Date('2027-01-01T00:29:49Z'));
    expect(first.runs.length + second.runs.length).toBe(1790); // 00:00:00 .. 00:29:49
    expect(second.nextRunAt).toEqual(new Date('2027-01-01T00:29:50Z'));
  });

  it('a one-time task always fires, late if it must', () => {
    const due = new Date('2027-01-01T10:00:00Z');
    const once: DueTask = { ...cronTask({}), kind: 'once', cronExpression: null, nextRunAt: due };
    const onTime = planClaim(once, new Date('2027-01-01T09:59:58Z'), THRESHOLD);
    expect(onTime).toEqual({ runs: [{ scheduledFor: due, status: 'pending', late: false, reason: null }], nextRunAt: null, state: 'completed' });
    const late = planClaim(once, new Date('2027-01-02T10:00:00Z'), THRESHOLD);
    expect(late.runs[0]!.status).toBe('pending');
    expect(late.runs[0]!.late).toBe(true);
    expect(late.state).toBe('completed');
  });

  it('the last occurrence before the end bound completes the task', () => {
    const p = planClaim(cronTask({ endAt: new Date('2027-01-01T10:04:00Z') }), new Date('2027-01-01T10:00:00Z'), THRESHOLD);
    expect(p.runs.map((r) => r.status)).toEqual(['pending']);
    expect(p.nextRunAt).toBeNull();
    expect(p.state).toBe('completed');
  });

  it('a schedule that no longer evaluates is recorded as skipped with the error, and the task stops', () => {
    const p = planClaim(cronTask({ cronExpression: 'not a cron' }), new Date('2027-01-01T10:00:00Z'), THRESHOLD);
    expect(p.scheduleError).toBeTruthy();
    expect(p.runs).toEqual([{ scheduledFor: new Date('2027-01-01T10:00:00Z'), status: 'skipped', late: false, reason: `schedule error: ${p.scheduleError}` }]);
    expect(p.state).toBe('completed');
    expect(p.nextRunAt).toBeNull();
  });
});

describe('planFire', () => {
  const at = new Date('2027-01-01T10:00:00Z');
  const held = (over: Partial<HeldOccurrence> = {}): HeldOccurrence => ({
    taskId: 't1', scheduledFor: at, trigger: 'schedule', late: false, reason: null, rescued: false, kind: 'cron', misfirePolicy: 'skip', ...over,
  });
  const after = (ms: number) => new Date(at.getTime() + ms);

  it('on time: fires, not late, lag as measured (negative when early)', () => {
    expect(planFire(held(), after(3), THRESHOLD)).toEqual({ fire: true, lagMs: 3, late: false, reason: null });
    expect(planFire(held(), after(-4), THRESHOLD)).toEqual({ fire: true, lagMs: -4, late: false, reason: null });
  });

  it('past the threshold: fires late with one reason saying by how much, unless the claim gave one', () => {
    expect(planFire(held(), after(12_400), THRESHOLD)).toEqual({ fire: true, lagMs: 12_400, late: true, reason: 'fired 12 s late' });
    const caughtUp = held({ late: true, reason: 'misfired: fired late' });
    expect(planFire(caughtUp, after(50), THRESHOLD)).toMatchObject({ fire: true, late: true, reason: 'misfired: fired late' });
  });

  it('a rescued skip-policy cron occurrence past its threshold is skipped; anything else rescued still fires', () => {
    expect(planFire(held({ rescued: true }), after(11_000), THRESHOLD)).toEqual({ fire: false, lagMs: 11_000, reason: 'misfired: skipped by policy (its node was lost)' });
    expect(planFire(held({ rescued: true }), after(9_000), THRESHOLD).fire).toBe(true);
    expect(planFire(held({ rescued: true, misfirePolicy: 'fire_once' }), after(11_000), THRESHOLD).fire).toBe(true);
    expect(planFire(held({ rescued: true, kind: 'once' }), after(11_000), THRESHOLD).fire).toBe(true);
    expect(planFire(held({ rescued: true, trigger: 'manual' }), after(11_000), THRESHOLD).fire).toBe(true);
    expect(planFire(held({ rescued: false }), after(11_000), THRESHOLD).fire).toBe(true);
  });

  it('rescued fire_once occurrences past their threshold that fall due together fire once, the latest', () => {
    const runs = [0, 1000, 2000].map((ms) => held({ rescued: true, misfirePolicy: 'fire_once', scheduledFor: new Date(at.getTime() + ms) }));
    const other = held({ taskId: 't2', rescued: true, misfirePolicy: 'fire_once' });
    const onTime = held({ taskId: 't3', rescued: true, misfirePolicy: 'fire_once', scheduledFor: after(15_000) });
    const decisions = planFireDue([...runs, other, onTime], after(16_000), THRESHOLD).map(([, d]) => d);
    expect(decisions.map((d) => d.fire)).toEqual([false, false, true, true, true]);
    expect(decisions[0]!.reason).toMatch(/coalesced into one late run/);
    expect(decisions[2]).toMatchObject({ late: true, reason: 'fired 14 s late' });
    expect(decisions[4]).toMatchObject({ late: false });
  });
});
