// Microbenchmark of the claim-path cost of computing the next occurrence.
// Run: npx vitest bench --run --root . bench/cron-next.bench.ts
// (prints figures only; `mean` is ms per call, so µs/op = mean × 1000)
import { Cron } from 'croner';
import { bench, describe } from 'vitest';
import { compileCron } from '../src/server/time/cron.js';

const START = Date.parse('2026-01-01T00:00:00Z');
const STEP = 7_919_000; // ~2.2 h, a prime number of seconds: walks through a year of different instants
let i = 0;
const nextInstant = () => new Date(START + (i++ % 4000) * STEP);

const cases = [
  ['*/5 * * * *', 'UTC'],
  ['*/5 * * * *', 'Europe/Berlin'],
  ['0 9 * * 1-5', 'America/New_York'],
  ['*/10 * * * * *', 'Australia/Lord_Howe'],
  ['0 0 29 2 *', 'Europe/Berlin'],
] as const;

describe('nextAfter (Sundial)', () => {
  for (const [expression, timezone] of cases) {
    const c = compileCron({ expression, timezone });
    bench(`${expression} ${timezone}`, () => {
      c.nextAfter(nextInstant());
    });
  }
  bench('compileCron cache hit', () => {
    compileCron({ expression: '*/5 * * * *', timezone: 'Europe/Berlin' });
  });
});

describe('nextRun (croner, for reference)', () => {
  for (const [expression, timezone] of cases) {
    const c = new Cron(expression, timezone === 'UTC' ? {} : { timezone });
    bench(`${expression} ${timezone}`, () => {
      c.nextRun(nextInstant());
    });
  }
});
