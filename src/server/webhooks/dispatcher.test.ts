// The dispatcher's rules with jobs that answer when the test says so: caps, turns,
// rate limit and the circuit breaker, no network.
import { describe, expect, it } from 'vitest';
import { Dispatcher, type Job } from './dispatcher.js';
import type { AttemptOutcome } from './http.js';

const OK: AttemptOutcome = { ok: true, retryable: false, statusCode: 204, durationMs: 1 };
const TIMEOUT: AttemptOutcome = { ok: false, retryable: true, unreachable: true, error: 'timeout after 10 ms', durationMs: 10 };

/** A job whose attempt stays open until `answer` is called. */
function job(origin: string, log: string[], name: string) {
  let answer!: (o: AttemptOutcome) => void;
  const deferred: { reason: string; at: number }[] = [];
  const j: Job & { answer(o: AttemptOutcome): void; started: boolean; deferred: typeof deferred } = {
    origin,
    started: false,
    deferred,
    send: () => {
      j.started = true;
      log.push(name);
      return new Promise((r) => (answer = r));
    },
    defer: (reason, at) => deferred.push({ reason, at }),
    answer: (o) => answer(o),
  };
  return j;
}
const tick = () => new Promise((r) => setImmediate(r));

describe('dispatcher', () => {
  it('holds each origin to its cap, and uses idle slots for a busy origin (work-conserving)', async () => {
    const d = new Dispatcher({ concurrency: 6, perOrigin: 4 });
    const log: string[] = [];
    const a = Array.from({ length: 10 }, (_, i) => job('http://a', log, `a${i}`));
    a.forEach((j) => d.submit(j));
    expect(a.filter((j) => j.started)).toHaveLength(4); // its cap, though 6 slots are free
    a[0]!.answer(OK);
    await tick();
    expect(a.filter((j) => j.started)).toHaveLength(5);
  });

  it('origins with queued work take turns: a late origin does not wait behind a long queue', async () => {
    const d = new Dispatcher({ concurrency: 2, perOrigin: 2 });
    const log: string[] = [];
    const a = Array.from({ length: 20 }, (_, i) => job('http://a', log, `a${i}`));
    const b = Array.from({ length: 3 }, (_, i) => job('http://b', log, `b${i}`));
    a.forEach((j) => d.submit(j));
    b.forEach((j) => d.submit(j));
    // every slot that frees goes to the next origin in turn
    for (let k = 0; k < 6; k++) {
      const open = [...a, ...b].find((j) => j.started && !(j as any).done);
      (open as any).done = true;
      open!.answer(OK);
      await tick();
    }
    expect(log.slice(0, 8)).toEqual(['a0', 'a1', 'a2', 'b0', 'a3', 'b1', 'a4', 'b2']);
  });

  it('a rate limit spaces an origin\'s requests; other origins are not held back', async () => {
    const d = new Dispatcher({ concurrency: 20, perOrigin: 10, rateLimits: new Map([['http://slow', 20]]) });
    const log: string[] = [];
    const slow = Array.from({ length: 25 }, (_, i) => job('http://slow', log, `s${i}`));
    const fast = Array.from({ length: 5 }, (_, i) => job('http://fast', log, `f${i}`));
    const t0 = Date.now();
    slow.forEach((j) => d.submit(j));
    fast.forEach((j) => d.submit(j));
    expect(fast.every((j) => j.started)).toBe(true);
    // a bucket of 20 a second: 20 at once, the rest at 50 ms intervals
    expect(slow.filter((j) => j.started).length).toBe(10); // its slot cap
    slow.filter((j) => j.started).forEach((j) => j.answer(OK));
    await new Promise((r) => setTimeout(r, 600));
    slow.filter((j) => j.started).forEach((j) => j.answer(OK));
    await new Promise((r) => setTimeout(r, 50));
    const started = slow.filter((j) => j.started).length;
    expect(started).toBeGreaterThanOrEqual(20);
    expect(started).toBeLessThan(25 + 1);
    expect(Date.now() - t0).toBeGreaterThan(500);
  });

  it('the circuit opens after repeated timeouts, defers the queue with its reason, and closes on a successful probe', async () => {
    const changes: string[] = [];
    const d = new Dispatcher({ concurrency: 10, perOrigin: 3, tripAfter: 3, openMs: 100 });
    d.onCircuit = (_o, state) => changes.push(state);
    const log: string[] = [];
    const jobs = Array.from({ length: 8 }, (_, i) => job('http://hung', log, `h${i}`));
    jobs.forEach((j) => d.submit(j));
    jobs.slice(0, 3).forEach((j) => j.answer(TIMEOUT));
    await tick();
    expect(d.circuitOf('http://hung')).toBe('open');
    // the three queued behind them were handed back to wait; none was sent
    const waiting = jobs.slice(3).filter((j) => j.deferred.length);
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting[0]!.deferred[0]!.reason).toMatch(/^circuit open: 3 attempts in a row to http:\/\/hung failed \(last: timeout after 10 ms\)/);
    expect(waiting.every((j) => !j.started)).toBe(true);
    // attempts already in flight finish as they do (here: they time out too)
    jobs.filter((j) => j.started).slice(3).forEach((j) => j.answer(TIMEOUT));
    await tick();
    // while open, a new job is deferred at once
    const late = job('http://hung', log, 'late');
    d.submit(late);
    expect(late.deferred).toHaveLength(1);
    expect(late.deferred[0]!.at).toBeGreaterThan(Date.now());
    // after the open period one probe goes out alone (half-open)
    await new Promise((r) => setTimeout(r, 120));
    const p1 = job('http://hung', log, 'probe');
    const p2 = job('http://hung', log, 'second');
    d.submit(p1);
    d.submit(p2);
    expect(d.circuitOf('http://hung')).toBe('half-open');
    expect(p1.started).toBe(true);
    expect(p2.started).toBe(false);
    p1.answer(OK);
    await tick();
    expect(d.circuitOf('http://hung')).toBe('closed');
    expect(p2.started).toBe(true);
    expect(changes).toEqual(['open', 'half-open', 'closed']);
    const snap = d.snapshot().find((o) => o.origin === 'http://hung')!;
    const sent = jobs.filter((j) => j.started).length;
    expect(snap.attempts).toBe(sent + 1);
    expect(snap.failures).toBe(sent);
  });

  it('a failed probe opens the circuit again, for longer', async () => {
    const d = new Dispatcher({ concurrency: 10, perOrigin: 1, tripAfter: 1, openMs: 50 });
    const log: string[] = [];
    const a = job('http://x', log, 'a');
    d.submit(a);
    a.answer(TIMEOUT);
    await tick();
    expect(d.circuitOf('http://x')).toBe('open');
    await new Promise((r) => setTimeout(r, 60));
    const probe = job('http://x', log, 'probe');
    d.submit(probe);
    const t = Date.now();
    probe.answer(TIMEOUT);
    await tick();
    expect(d.circuitOf('http://x')).toBe('open');
    const next = job('http://x', log, 'next');
    d.submit(next);
    expect(next.deferred[0]!.at - t).toBeGreaterThanOrEqual(90); // 2 × 50 ms
  });
});
