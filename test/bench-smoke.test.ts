// Benchmark smoke test: a 2,000-task burst against Sundial only, through the benchmark
// harness's own Sundial adapter (bench/systems.ts), so CI notices when the harness or the
// firing path breaks. It asserts correctness (every task fired, none twice) and prints
// the figures; it does not assert timing (CI machines are shared and loaded).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lagStats, sleep } from '../bench/lib.js';
import { Sundial, type Item } from '../bench/systems.js';
import { adminUrl, createTestDatabase, type TestDatabase } from './support/postgres.js';

const N = 2000;
let db: TestDatabase;
let sys: Sundial;

beforeAll(async () => {
  db = await createTestDatabase();
  sys = new Sundial({ adminUrl: adminUrl(), url: db.url });
  await sys.start();
});

afterAll(async () => {
  await sys?.stop();
  await db?.drop();
});

it(`a burst of ${N} one-time tasks due at one instant: all fire, none twice`, async () => {
  const T = Date.now() + 4000;
  const items: Item[] = Array.from({ length: N }, (_, i) => ({ i, due: T }));
  await sys.insertBulk(items);
  expect(Date.now(), 'the insert overran the due time').toBeLessThan(T);
  const deadline = T + 45_000;
  while (Date.now() < deadline && (await sys.recorded()) < N) await sleep(200);
  const recordedAfterT = Date.now() - T;
  const out = await sys.outcome(N);
  const st = lagStats(out.lags);
  const missing = Array.from(out.lags).filter((v) => Number.isNaN(v)).length;
  console.log(
    `bench smoke: ${st?.n ?? 0}/${N} fired, ${out.dups} twice, ${missing} missing; lag p50 ${st?.p50.toFixed(0)} ms, ` +
      `p99 ${st?.p99.toFixed(0)} ms, max ${st?.max.toFixed(0)} ms; all recorded ${recordedAfterT} ms after T`,
  );
  expect(out.dups).toBe(0);
  expect(missing).toBe(0);
  expect(st?.n).toBe(N);
}, 90_000);
