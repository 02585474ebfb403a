// The one source of time for the services: the wall clock (now), a monotonic clock
// that never jumps (to see the event loop stall), and timers. Services take a Clock,
// so a test drives them with a ManualClock instead of sleeping.
import { performance } from 'node:perf_hooks';

export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): Date;
  /** milliseconds on a clock that only moves forward at real speed (not the wall clock) */
  monotonicMs(): number;
  /** runs `fn` once after `ms`; the timer never keeps the process alive on its own */
  setTimer(fn: () => void, ms: number): Timer;
}

// setTimeout caps its delay at 2^31-1 ms (~24.8 days); a longer one fires at once.
const MAX_DELAY = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => new Date(),
  monotonicMs: () => performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_DELAY));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * A wall clock corrected by a measured offset: `now()` is the base clock plus
 * `offsetMs` (PostgreSQL's now() minus ours, measured at heartbeats), so firing
 * follows the cluster's one time source instead of each node's own clock.
 */
export class OffsetClock implements Clock {
  offsetMs = 0;

  constructor(private readonly base: Clock) {}

  now(): Date {
    return new Date(this.base.now().getTime() + this.offsetMs);
  }

  monotonicMs(): number {
    return this.base.monotonicMs();
  }

  setTimer(fn: () => void, ms: number): Timer {
    return this.base.setTimer(fn, ms);
  }
}

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to, with timers that fire as it moves: for tests.
 * `advance` fires every timer that falls due on the way, in due order, each with the
 * clock set to its due time (as a real event loop would, minus the delay).
 */
export class ManualClock implements Clock {
  // The wall clock is kept as an offset from the monotonic one, never accumulated: adding
  // fractional timer delays (jittered polls) to a 13-digit millisecond count drifts by
  // float rounding, and a wall clock a hair short of a due instant would not fire it.
  private offset: number;
  private mono = 0;
  private seq = 0;
  private timers: PendingTimer[] = [];

  constructor(start: Date | string | number = 0) {
    this.offset = new Date(start).getTime();
    if (Number.isNaN(this.offset)) throw new RangeError(`ManualClock: invalid start ${String(start)}`);
  }

  now(): Date {
    return new Date(this.offset + this.mono);
  }

  monotonicMs(): number {
    return this.mono;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const t: PendingTimer = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  /** Timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Jumps the wall clock (as NTP or an operator might); timers and the monotonic clock stay. */
  set(to: Date | string | number): void {
    const ms = new Date(to).getTime();
    if (Number.isNaN(ms)) throw new RangeError(`ManualClock: invalid time ${String(to)}`);
    this.offset = ms - this.mono;
  }

  /** Moves both clocks forward by `ms`, firing the timers due on the way. */
  advance(ms: number): Date {
    const end = this.mono + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const next = this.timers.reduce<PendingTimer | undefined>((a, t) => (t.at <= end && (!a || t.at < a.at || (t.at === a.at && t.seq < a.seq)) ? t : a), undefined);
      if (!next) break;
      if (next.at > this.mono) this.mono = next.at;
      next.cancelled = true;
      next.fn();
    }
    this.mono = end;
    return this.now();
  }

  /**
   * Moves both clocks forward by `ms` without firing anything on the way (the process
   * was frozen); the timers that fell due fire on the next advance.
   */
  freeze(ms: number): void {
    this.mono += ms;
  }
}
