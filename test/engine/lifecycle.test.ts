// Every service shares one lifecycle: start() and async stop(), both idempotent, and a
// stopped service leaves no timer behind. Each is built from its deps on a ManualClock
// (whose pending timers are countable) against a real PostgreSQL, started twice, put to
// work, stopped twice, in a random order of interleavings.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSchedulerConfig } from '../../src/server/config.js';
import { createMetrics } from '../../src/server/metrics.js';
import { Claimer } from '../../src/server/scheduler/claimer.js';
import { Executor } from '../../src/server/scheduler/executor.js';
import { Heartbeat } from '../../src/server/scheduler/heartbeat.js';
import { Housekeeper } from '../../src/server/scheduler/housekeeper.js';
import { Recorder } from '../../src/server/scheduler/recorder.js';
import { InFlight, type Service } from '../../src/server/scheduler/service.js';
import { NoticeListener } from '../../src/server/store/notices.js';
import { ManualClock } from '../../src/server/time/clock.js';
import { WebhookDeliverer } from '../../src/server/webhooks/deliverer.js';
import { parseAllowList } from '../../src/server/webhooks/ssrf.js';
import { onceTasks, registerNode, storeDatabase, type StoreDb } from '../support/store.js';

let s: StoreDb;
beforeAll(async () => {
  s = await storeDatabase();
});
afterAll(async () => {
  await s?.close();
});

const log = pino({ level: 'silent' });

function build(clock: ManualClock, nodeId: string) {
  const { sql } = s;
  const metrics = createMetrics();
  const inFlight = new InFlight();
  const notices = new NoticeListener({ sql, log });
  const heartbeat = new Heartbeat({ sql, nodeId, clock, heartbeatMs: 1000, leaseMs: 5000, metrics, log });
  const recorder = new Recorder({ sql, nodeId, clock, inFlight, metrics, log, drainMs: 2000 });
  const deliverer = new WebhookDeliverer(sql, nodeId, clock, recorder, metrics, log, {
    secrets: ['whsec_lifecycle_test_secret'], allow: parseAllowList(''), retryBaseMs: 1000, retryMaxMs: 5000, concurrency: 4, userAgent: 'test', inFlight,
  });
  const executor = new Executor({ clock, recorder, inFlight, metrics, log, misfireThresholdMs: 10_000, notices, webhooks: deliverer, gate: heartbeat });
  const claimer = new Claimer({ sql, nodeId, config: { ...defaultSchedulerConfig, claimAheadMs: 0 }, clock, executor, inFlight, metrics, log, notices, lease: heartbeat });
  const housekeeper = new Housekeeper({ sql, nodeId, clock, retentionDays: 30, log });
  const services: [string, Service][] = [
    ['notices', notices], ['heartbeat', heartbeat], ['recorder', recorder], ['deliverer', deliverer],
    ['executor', executor], ['claimer', claimer], ['housekeeper', housekeeper],
  ];
  return { services, claimer, executor, recorder, inFlight };
}

describe('service lifecycle', () => {
  it('start twice, work, stop twice: nothing fires after stop and no timer is left', async () => {
    const clock = new ManualClock(Date.now());
    await registerNode(s.sql, 'life-a');
    const { services, claimer, executor, recorder, inFlight } = build(clock, 'life-a');
    for (const [, svc] of services) {
      await svc.start();
      await svc.start();
    }
    await onceTasks(s.sql, 20, new Date(clock.now().getTime() + 500));
    claimer.wake();
    await claimer.idle();
    expect(executor.held).toBe(20);
    clock.advance(600); // they fire at 500, the recorder's flush timer 25 ms later
    await recorder.flushed();
    const [{ n }] = await s.sql<{ n: string }[]>`select count(*) as n from runs where node_id = 'life-a' and status = 'succeeded'`;
    expect(Number(n)).toBe(20);
    expect(inFlight.count).toBe(0);
    for (const [, svc] of [...services].reverse()) {
      await svc.stop();
      await svc.stop();
    }
    expect(clock.pendingTimers).toBe(0);
    // stopped means stopped: a wake and the clock moving on do nothing
    claimer.wake();
    clock.advance(60_000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('stop before start, and stop right after start, are both harmless', async () => {
    const clock = new ManualClock(Date.now());
    await registerNode(s.sql, 'life-b');
    const first = build(clock, 'life-b');
    for (const [, svc] of first.services) await svc.stop();
    const second = build(clock, 'life-b');
    for (const [, svc] of second.services) await svc.start();
    for (const [, svc] of [...second.services].reverse()) await svc.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});
