import { ApiError } from '../errors.js';

/** How often the node's timer woke, and how often it woke late (scheduler/executor.ts). */
export interface TimerLateness {
  wakes: number;
  late: number;
}

export const PACE = {
  /** the pace is decided once a window, from that window's timer wakes */
  windowMs: 1000,
  /** fewer wakes than this in a window say nothing (the node is hardly firing) */
  minWakes: 20,
  /** a window in which more than this share of the wakes were late is a slow window */
  lateShare: 0.005,
  /** a slow window halves the pace (from what was admitted in it, when that is less) */
  decrease: 0.5,
  /** a window on time raises it by a tenth ... */
  increase: 1.1,
  /** ... or doubles it while an import starts, until its first slow window (slow start) */
  startIncrease: 2,
  /** ... and past this the bulk writes go unpaced again (bytes a second) */
  maxBytesPerSecond: 64 * 1024 * 1024,
  /** the pace never falls below this (bytes a second: ~2,000 ordinary tasks): an import always moves;
   *  an import that starts while the node is firing starts here */
  minBytesPerSecond: 512 * 1024,
  /** a batch that would wait longer than this for its turn is refused (429, Retry-After)
   *  rather than held past a client's or a proxy's timeout: many clients at once, each
   *  sequential client waits at most for its previous batch (8 s for the 4 MiB a batch may be, at the floor) */
  maxWaitMs: 30_000,
};

/** The batch would wait longer than `maxWaitMs`: 429, retry after `retryAfterMs`. */
export class PaceFull extends ApiError {
  constructor(
    readonly retryAfterMs: number,
    maxWaitMs: number,
  ) {
    const s = Math.ceil(retryAfterMs / 1000);
    super('RATE_LIMITED', `batch writes are paced while this node fires late, and this one would wait more than ${maxWaitMs / 1000} s; retry in ${s} s`, {
      retryAfterSeconds: s,
    });
  }
}

/**
 * Paces bulk writes (POST /api/tasks/batch, by body bytes) while the node's own timer
 * wakes late. An import is a throughput job and a due webhook a deadline: on two cores a
 * million tasks written as fast as PostgreSQL takes them made the steady stream beside
 * them 4× later at its p99 (4 → 17 ms), even with the import's thread and backends at
 * nice 10, at SCHED_IDLE or pinned to one core; the same rows written straight into
 * PostgreSQL at nice 10, with no node in the way, did the same (50 ms; nice could not work
 * there: each backend was a scheduling group of its own, which store/background.ts now
 * lowers too, see its comment). What the stream
 * feels is the database's write rate, so that is what is paced: a client sending 5,000
 * tasks a second left the stream at 8 → 10 ms, and this pace 5–6 → 7–8 ms (1.17–1.60×,
 * median 1.50× over four pairs with the slow start below; 1.50–1.80× without it; the
 * target is 1.5×; 1.20–1.50×, median 1.40×, over seven pairs once the backends' group
 * was lowered too), the import then taking 5–5.5 minutes beside the stream (docs/api.md,
 * "Firing beside an import"; at a 2 % late share and +25 % a window: 5 → 13 ms in 92 s).
 *
 * Additive-increase/multiplicative-decrease on the timer's lateness, measured where the
 * deadline is: a window in which more than `lateShare` of the timer's wakes came late
 * halves the pace, each window on time raises it by a tenth until it is unpaced again.
 * An import (the first batch, or one after three windows with no batch in turn) that starts
 * while the node is firing starts at the floor and doubles each window on time until its
 * first slow one, as TCP's slow start does: started unpaced, its first seconds ran at
 * PostgreSQL's full write rate before the pace caught up, and they were where the
 * stream's p99 came from (first 10 s 14–20 ms, the rest 6–8).
 * A node that is not firing (fewer than `minWakes` wakes a window) never slows an import:
 * alone, a million tasks load at full speed.
 */
export class BulkPace {
  private bytesPerSecond = Infinity;
  /** when the next batch may start */
  private nextAt = 0;
  /** when the last batch came, or when its paced turn ends: an import is idle three windows after */
  private busyUntil = -Infinity;
  private windowAt: number;
  private seen: TimerLateness;
  private admitted = 0;
  /** doubling from the floor, until the first slow window */
  private starting = false;

  constructor(
    private readonly now: () => number,
    private readonly lateness: () => TimerLateness,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    private readonly p = PACE,
  ) {
    this.windowAt = now();
    this.seen = lateness();
  }

  /** bytes a second a bulk write may take now; Infinity when unpaced */
  get pace(): number {
    return this.bytesPerSecond;
  }

  /** Resolves when a bulk write of `bytes` may start; throws PaceFull, admitting nothing, if that is more than `maxWaitMs` away. */
  async admit(bytes: number): Promise<void> {
    this.decide();
    const t = this.now();
    const start = Math.max(t, this.nextAt);
    if (this.bytesPerSecond !== Infinity && start - t > this.p.maxWaitMs) throw new PaceFull(Math.max(1000, start - t - this.p.maxWaitMs / 2), this.p.maxWaitMs);
    this.admitted += bytes;
    this.busyUntil = t;
    if (this.bytesPerSecond === Infinity) return;
    this.nextAt = this.busyUntil = start + (bytes / this.bytesPerSecond) * 1000;
    if (start > t) await this.sleep(start - t);
  }

  private decide(): void {
    const t = this.now();
    const elapsed = t - this.windowAt;
    if (elapsed < this.p.windowMs) return;
    const cur = this.lateness();
    const wakes = cur.wakes - this.seen.wakes;
    const late = cur.late - this.seen.late;
    const admittedPerSecond = (this.admitted / elapsed) * 1000;
    this.windowAt = t;
    this.seen = cur;
    this.admitted = 0;
    if (t - this.busyUntil > 3 * this.p.windowMs) {
      // a new import (no batch came or waited its turn for three windows): a window that
      // spans an idle stretch says nothing about the writes' rate, only whether the node
      // is firing (then start slow, else unpaced)
      const firing = (wakes / elapsed) * this.p.windowMs >= this.p.minWakes;
      this.bytesPerSecond = firing ? this.p.minBytesPerSecond : Infinity;
      this.starting = firing;
      this.nextAt = 0;
      return;
    }
    if (wakes >= this.p.minWakes && late / wakes > this.p.lateShare) {
      this.bytesPerSecond = Math.max(this.p.minBytesPerSecond, Math.min(this.bytesPerSecond, admittedPerSecond) * this.p.decrease);
      this.starting = false;
    } else if (this.bytesPerSecond !== Infinity) {
      this.bytesPerSecond *= this.starting ? this.p.startIncrease : this.p.increase;
      if (this.bytesPerSecond >= this.p.maxBytesPerSecond) {
        this.bytesPerSecond = Infinity;
        this.starting = false;
        this.nextAt = 0;
      }
    }
  }
}
