import { describe, expect, it } from 'vitest';
import { BulkPace, PACE, PaceFull, type TimerLateness } from './bulk-pace';

/** A pace on a stub clock: sleeping moves the clock, and each sleep is kept. */
function setup() {
  let t = 1_000_000;
  const timer: TimerLateness = { wakes: 0, late: 0 };
  const slept: number[] = [];
  const pace = new BulkPace(
    () => t,
    () => ({ ...timer }),
    async (ms) => {
      slept.push(ms);
      t += ms;
    },
  );
  return {
    pace,
    slept,
    advance: (ms: number) => (t += ms),
    /** one window of the timer's wakes, `late` of them late */
    window: (wakes: number, late: number) => {
      timer.wakes += wakes;
      timer.late += late;
      t += PACE.windowMs;
    },
  };
}

const MB = 1024 * 1024;

describe('BulkPace', () => {
  it('lets bulk writes through unpaced while the timer keeps time', async () => {
    const s = setup();
    for (let i = 0; i < 5; i++) {
      await s.pace.admit(MB);
      s.window(1000, 2); // 0.2 % late: inside the share
    }
    await s.pace.admit(MB);
    expect(s.pace.pace).toBe(Infinity);
    expect(s.slept).toEqual([]);
  });

  it('does not slow an import on a node that is hardly firing', async () => {
    const s = setup();
    await s.pace.admit(MB);
    s.window(PACE.minWakes - 1, PACE.minWakes - 1); // every wake late, but too few to judge
    await s.pace.admit(MB);
    expect(s.pace.pace).toBe(Infinity);
  });

  it('halves the rate admitted in a window whose wakes came late, and spaces the writes by it', async () => {
    const s = setup();
    for (let i = 0; i < 4; i++) await s.pace.admit(MB); // 4 MB in the window
    s.window(1000, 50);
    await s.pace.admit(MB); // decided here: 4 MB/s × 0.5
    expect(s.pace.pace).toBe(2 * MB);
    await s.pace.admit(MB);
    await s.pace.admit(MB);
    // each megabyte waits for the one before it: half a second apart at 2 MB/s
    expect(s.slept).toEqual([500, 500]);
  });

  it('never paces below its floor, and recovers to unpaced after windows on time', async () => {
    const s = setup();
    await s.pace.admit(1024);
    s.window(1000, 500);
    await s.pace.admit(1024);
    expect(s.pace.pace).toBe(PACE.minBytesPerSecond);
    let windows = 0;
    while (s.pace.pace !== Infinity && windows < 200) {
      s.window(1000, 0);
      await s.pace.admit(1024);
      windows++;
    }
    expect(s.pace.pace).toBe(Infinity);
    // multiplicative: from the floor to unpaced in a bounded number of on-time windows
    expect(windows).toBe(Math.ceil(Math.log(PACE.maxBytesPerSecond / PACE.minBytesPerSecond) / Math.log(PACE.increase)));
  });

  it('goes back to unpaced after an idle stretch rather than judging it as one window', async () => {
    const s = setup();
    await s.pace.admit(4 * MB);
    s.window(1000, 100);
    await s.pace.admit(MB);
    expect(s.pace.pace).toBe(2 * MB);
    s.advance(60_000); // nothing for a minute
    await s.pace.admit(MB);
    expect(s.pace.pace).toBe(Infinity);
  });

  it('starts an import on a firing node slow: at the floor, doubling each window on time until the first slow one', async () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.window(1000, 0); // five seconds of firing, no batch
    await s.pace.admit(MB);
    expect(s.pace.pace).toBe(PACE.minBytesPerSecond);
    // the second batch waits for the first at the floor's rate
    await s.pace.admit(1024);
    expect(s.slept).toEqual([(MB / PACE.minBytesPerSecond) * 1000]);
    s.window(1000, 0);
    await s.pace.admit(1024);
    expect(s.pace.pace).toBe(2 * PACE.minBytesPerSecond);
    s.window(1000, 0);
    await s.pace.admit(1024);
    expect(s.pace.pace).toBe(4 * PACE.minBytesPerSecond);
    s.window(1000, 100); // slow: halved, and from here on a tenth a window
    await s.pace.admit(1024);
    const halved = s.pace.pace;
    expect(halved).toBeLessThanOrEqual(2 * PACE.minBytesPerSecond);
    s.window(1000, 0);
    await s.pace.admit(1024);
    expect(s.pace.pace).toBeCloseTo(Math.max(halved, PACE.minBytesPerSecond) * PACE.increase);
  });

  it('refuses a batch that would wait past maxWaitMs, admitting nothing of it, and says when to come back', async () => {
    let t = 1_000_000;
    const timer = { wakes: 0, late: 0 };
    const starts: number[] = [];
    // many clients at once: sleeping does not move the clock, each batch's start is kept
    const pace = new BulkPace(
      () => t,
      () => ({ ...timer }),
      async (ms) => void starts.push(ms),
    );
    timer.wakes += 5000;
    t += 5000; // five seconds of firing, no batch
    await pace.admit(1024); // a new import on a firing node: paced at the floor
    expect(pace.pace).toBe(PACE.minBytesPerSecond);
    const batch = 4 * MB; // 8 s each at the floor
    for (let i = 0; i < 4; i++) await pace.admit(batch);
    const refused = await pace.admit(batch).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(PaceFull);
    const queued = ((1024 + 4 * batch) / PACE.minBytesPerSecond) * 1000;
    expect((refused as PaceFull).retryAfterMs).toBeCloseTo(queued - PACE.maxWaitMs / 2);
    // the API answers it as 429 RATE_LIMITED, Retry-After from retryAfterSeconds (api/server.ts)
    expect(refused).toMatchObject({ status: 429, code: 'RATE_LIMITED', details: { retryAfterSeconds: Math.ceil((queued - PACE.maxWaitMs / 2) / 1000) } });
    expect((refused as PaceFull).message).toMatch(/retry in \d+ s/);
    // the refused one took no place: after the queue drains, the next starts where the fourth ended
    t += queued - 100;
    await pace.admit(1024);
    expect(starts.at(-1)).toBeCloseTo(100);
  });
});
