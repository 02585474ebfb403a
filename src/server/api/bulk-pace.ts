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
  /** ... and past this the bulk writes go unpaced again (bytes a second) */
  maxBytesPerSecond: 64 * 1024 * 1024,
  /** the pace never falls below this (bytes a second: ~2,000 ordinary tasks): an import always moves */
  minBytesPerSecond: 512 * 1024,
};

/**
 * Paces bulk writes (POST /api/tasks/batch, by body bytes) while the node's own timer
 * wakes late. An import is a throughput job and a due webhook a deadline: on two cores a
 * million tasks written as fast as PostgreSQL takes them made the steady stream beside
 * them 4× later at its p99 (4 → 17 ms), even with the import's thread and backends at
 * nice 10, at SCHED_IDLE or pinned to one core; the same rows written straight into
 * PostgreSQL at nice 10, with no node in the way, did the same (50 ms). What the stream
 * feels is the database's write rate, so that is what is paced: a client sending 5,000
 * tasks a second left the stream at 8 → 10 ms, and this pace at its settings 5–6 → 9–10
 * ms (1.50–1.80×, three pairs; the target is 1.5×), the import then taking ~5.5 minutes
 * beside the stream (docs/api.md, "Firing beside an import"; at a 2 % late share and
 * +25 % a window: 5 → 13 ms in 92 s).
 *
 * Additive-increase/multiplicative-decrease on the timer's lateness, measured where the
 * deadline is: a window in which more than `lateShare` of the timer's wakes came late
 * halves the pace, each window on time raises it by a tenth until it is unpaced again;
 * a gap of more than three windows between batches (a new import) starts unpaced.
 * A node that is not firing (fewer than `minWakes` wakes a window) never slows an import:
 * alone, a million tasks load at full speed.
 */
export class BulkPace {
  private bytesPerSecond = Infinity;
  /** when the next batch may start */
  private nextAt = 0;
  private windowAt: number;
  private seen: TimerLateness;
  private admitted = 0;

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

  /** Resolves when a bulk write of `bytes` may start. */
  async admit(bytes: number): Promise<void> {
    this.decide();
    this.admitted += bytes;
    if (this.bytesPerSecond === Infinity) return;
    const t = this.now();
    const start = Math.max(t, this.nextAt);
    this.nextAt = start + (bytes / this.bytesPerSecond) * 1000;
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
    // a window that spans an idle stretch says nothing about the writes' rate
    const fresh = elapsed <= 3 * this.p.windowMs;
    if (fresh && wakes >= this.p.minWakes && late / wakes > this.p.lateShare) {
      this.bytesPerSecond = Math.max(this.p.minBytesPerSecond, Math.min(this.bytesPerSecond, admittedPerSecond) * this.p.decrease);
    } else if (this.bytesPerSecond !== Infinity) {
      this.bytesPerSecond *= this.p.increase;
      if (!fresh || this.bytesPerSecond >= this.p.maxBytesPerSecond) {
        this.bytesPerSecond = Infinity;
        this.nextAt = 0;
      }
    }
  }
}
