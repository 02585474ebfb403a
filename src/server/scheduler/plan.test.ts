import { describe, expect, it } from 'vitest';
import type { DueTask } from '../store/runs.js';
import { MISFIRE_BATCH, planClaim } from './plan.js';

const THRESHOLD = 10_000;
const cronTask = (over: Partial<DueTask>): DueTask => ({
  id: 't1',
  kind: 'cron',
  runAt: null,
  cronExpression: '*/5 * * * *',
  timezone: 'UTC',
  startAt: null,
  endAt: null,
  misfirePolicy: 'fire_once',
  nextRunAt: new Date('2027-01-01T10:00:00Z'),
  state: 'active',
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
    const once: DueTask = { ...cronTask({}), kind: 'once', cronExpression: null, runAt: due, nextRunAt: due };
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
});
