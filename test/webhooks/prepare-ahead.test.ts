// A held webhook run's request is made PREPARE_AHEAD_MS before its instant, not when it
// is claimed (src/server/webhooks/deliverer.ts): what a node holds 45 s ahead is the run,
// not its request.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/server/metrics.js';
import { Recorder } from '../../src/server/scheduler/recorder.js';
import { InFlight } from '../../src/server/scheduler/service.js';
import type { ClaimedRun } from '../../src/server/store/runs.js';
import { ManualClock } from '../../src/server/time/clock.js';
import { PREPARE_AHEAD_MS, WebhookDeliverer } from '../../src/server/webhooks/deliverer.js';
import { parseAllowList } from '../../src/server/webhooks/ssrf.js';
import { storeDatabase, type StoreDb } from '../support/store.js';

let s: StoreDb;
beforeAll(async () => {
  s = await storeDatabase();
});
afterAll(async () => {
  await s?.close();
});

const log = pino({ level: 'silent' });
const turn = () => new Promise((r) => setImmediate(r));

function run(id: string, at: Date): ClaimedRun {
  return {
    id,
    taskId: `00000000-0000-7000-8000-00000000000${id}`,
    attempt: 1,
    actionType: 'webhook',
    idempotencyKey: null,
    deliveries: null,
    taskName: `t${id}`,
    action: { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
    payload: null,
    overlapPolicy: 'allow',
    maxLatenessMs: null,
    scheduledFor: at,
    trigger: 'schedule',
  } as unknown as ClaimedRun;
}

describe('preparing held webhook runs', () => {
  it('makes a request only once its instant is PREPARE_AHEAD_MS away, and none after stop', async () => {
    const clock = new ManualClock(Date.now());
    const metrics = createMetrics();
    const inFlight = new InFlight();
    const recorder = new Recorder({ sql: s.sql, nodeId: 'prep-a', clock, inFlight, metrics, log, drainMs: 100 });
    const d = new WebhookDeliverer(s.sql, 'prep-a', clock, recorder, metrics, log, {
      secrets: ['whsec_prepare_test'], allow: parseAllowList('127.0.0.1/32'), retryBaseMs: 1000, retryMaxMs: 5000, concurrency: 4, userAgent: 'test', inFlight,
    });
    const prepared = (r: ClaimedRun) => (d as unknown as { prepared: WeakMap<ClaimedRun, unknown> }).prepared.has(r);
    d.start();
    try {
      const t0 = clock.now().getTime();
      const soon = run('1', new Date(t0 + PREPARE_AHEAD_MS - 1000));
      const later = run('2', new Date(t0 + 60_000));
      const last = run('3', new Date(t0 + 90_000));
      d.prepare(soon);
      d.prepare(later);
      d.prepare(last);
      await turn();
      expect([prepared(soon), prepared(later), prepared(last)]).toEqual([true, false, false]);
      // a second before `later` comes within reach: still not made
      clock.advance(60_000 - PREPARE_AHEAD_MS - 1000);
      await turn();
      expect(prepared(later)).toBe(false);
      clock.advance(1000);
      await turn();
      expect([prepared(later), prepared(last)]).toEqual([true, false]);
    } finally {
      await d.stop();
    }
    expect(clock.pendingTimers).toBe(0);
  });
});
