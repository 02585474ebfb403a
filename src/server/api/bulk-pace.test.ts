import { describe, expect, it } from 'vitest';
import { BulkPace, PACE, type TimerLateness } from './bulk-pace';

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
});
