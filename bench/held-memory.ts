// What one held occurrence costs in memory: N claimed runs held by an Executor (its
// heap, the in-flight account), measured as the heap's growth with a forced GC before
// and after. `npm run build:server && node --expose-gc --import tsx bench/held-memory.ts [N] [payloadBytes]`
import { pino } from 'pino';
import { createMetrics } from '../src/server/metrics.js';
import { Executor, heldRunBytes } from '../src/server/scheduler/executor.js';
import { InFlight } from '../src/server/scheduler/service.js';
import type { ClaimedRun } from '../src/server/store/runs.js';
import { ManualClock } from '../src/server/time/clock.js';

const N = Number(process.argv[2] ?? 100_000);
const payloadBytes = Number(process.argv[3] ?? 0);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const clock = new ManualClock(Date.now());
const inFlight = new InFlight();
const executor = new Executor({ clock, recorder: { add: () => {} }, inFlight, metrics: createMetrics(), log: pino({ level: 'silent' }), misfireThresholdMs: 10_000 });
executor.start();
const base = clock.now().getTime() + 60_000;
// runs as the claim returns them: ids and timestamps fresh per row, like rows parsed from the wire
const runs: ClaimedRun[] = Array.from({ length: N }, (_, i) => ({
  id: String(10_000_000 + i),
  taskId: `0190${(i % 65536).toString(16).padStart(4, '0')}-7c1e-7a8b-9f00-${i.toString(16).padStart(12, '0')}`,
  scheduledFor: new Date(base + (i % 45_000)),
  attempt: 1,
  late: false,
  trigger: 'schedule',
  reason: null,
  actionType: 'log',
  kind: 'cron',
  misfirePolicy: 'fire_once',
  rescued: false,
  ...(payloadBytes ? { payload: { text: 'x'.repeat(payloadBytes) } } : {}),
}));
gc();
const before = process.memoryUsage().heapUsed;
executor.hold(runs);
gc();
const after = process.memoryUsage().heapUsed;
// the runs array itself stays referenced by both measurements' context; what grew is
// the executor's heap entries and the account's entries, plus the run objects retained
const perRunHeld = (after - before) / N;
gc();
const objects = (() => {
  const b = process.memoryUsage().heapUsed;
  const copies = runs.map((r) => ({ ...r, scheduledFor: new Date(r.scheduledFor) }));
  gc();
  const a = process.memoryUsage().heapUsed;
  return { bytes: (a - b) / N, keep: copies.length };
})();
console.log(
  JSON.stringify({
    N,
    payloadBytes,
    heldStructuresPerRun: Math.round(perRunHeld),
    runObjectPerRun: Math.round(objects.bytes),
    totalPerRun: Math.round(perRunHeld + objects.bytes),
    accountEstimatePerRun: Math.round(inFlight.bytes / N),
    heldRunBytesExample: heldRunBytes(runs[0]!),
  }),
);
