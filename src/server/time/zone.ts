// UTC-offset bookkeeping for IANA time zones, internal to the time module.
//
// Intl.DateTimeFormat is the only source of zone rules in Node, and it is slow
// (a few µs per call). This module asks it as little as possible: for each UTC
// day it samples the offset five times, finds any transition inside the day to
// the second by bisection, and caches the result. After that, the offset of an
// instant and the transitions near it are a Map lookup away.
//
// Offsets are in milliseconds, local wall clock minus UTC ("local time as if it
// were UTC" is how the cron code represents wall-clock times).

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** The offset changes from `before` to `after` at instant `at` (whole second; `at` already has `after`). */
export interface Transition {
  readonly at: number;
  readonly before: number;
  readonly after: number;
}

interface DayInfo {
  /** offset in force just before the day starts (at dayStart - 1 s) */
  readonly before: number;
  /** transitions with dayStart <= at < dayStart + DAY, ascending */
  readonly transitions: readonly Transition[];
}

const NO_TRANSITIONS: readonly Transition[] = Object.freeze([]);
const MAX_CACHED_DAYS = 50_000;
// "1/15/2027, 09:00:00" (en-US, numeric fields, h23)
const FORMAT_RE = /^(\d{1,2})\/(\d{1,2})\/(\d{1,6}),? (\d{1,2}):(\d{2}):(\d{2})$/;

export class Zone {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly days = new Map<number, DayInfo>();

  constructor(readonly name: string) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }

  /** Offset straight from Intl (uncached). `t` is truncated to the second. */
  rawOffset(t: number): number {
    const whole = Math.floor(t / SECOND) * SECOND;
    const text = this.fmt.format(whole);
    const m = FORMAT_RE.exec(text);
    let local: number;
    if (m) {
      local = Date.UTC(+m[3]!, +m[1]! - 1, +m[2]!, +m[4]!, +m[5]!, +m[6]!);
    } else {
      // Unexpected rendering (ICU change?): fall back to formatToParts.
      const p: Record<string, number> = {};
      for (const part of this.fmt.formatToParts(whole)) if (part.type !== 'literal') p[part.type] = Number(part.value);
      local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
    }
    return local - whole;
  }

  private day(index: number): DayInfo {
    let info = this.days.get(index);
    if (info === undefined) {
      if (this.days.size >= MAX_CACHED_DAYS) this.days.clear();
      info = this.computeDay(index);
      this.days.set(index, info);
    }
    return info;
  }

  private computeDay(index: number): DayInfo {
    const start = index * DAY;
    // Sample points; a transition X with start <= X < start + DAY shows up as a
    // difference between two neighbouring samples (X - 1 s vs X).
    const points = [start - SECOND, start + 6 * HOUR - SECOND, start + 12 * HOUR - SECOND, start + 18 * HOUR - SECOND, start + DAY - SECOND];
    const offsets = points.map((p) => this.rawOffset(p));
    let transitions: Transition[] | undefined;
    for (let i = 0; i < 4; i++) {
      let lo = points[i]!;
      let loOff = offsets[i]!;
      const hi = points[i + 1]!;
      const hiOff = offsets[i + 1]!;
      // Usually zero or one transition per 6 h; the loop also copes with several
      // as long as the offset differs at the end of the interval.
      while (loOff !== hiOff) {
        let a = lo;
        let b = hi;
        while (b - a > SECOND) {
          const mid = a + Math.floor((b - a) / (2 * SECOND)) * SECOND;
          if (this.rawOffset(mid) === loOff) a = mid;
          else b = mid;
        }
        const after = this.rawOffset(b);
        (transitions ??= []).push({ at: b, before: loOff, after });
        lo = b;
        loOff = after;
      }
    }
    return { before: offsets[0]!, transitions: transitions ?? NO_TRANSITIONS };
  }

  /** UTC offset in force at instant `t`. */
  offsetAt(t: number): number {
    const info = this.day(Math.floor(t / DAY));
    let off = info.before;
    for (const tr of info.transitions) {
      if (t >= tr.at) off = tr.after;
      else break;
    }
    return off;
  }

  /**
   * Offset in force at `from`, and every transition with from < at <= to (ascending).
   * Returns `null` transitions when there are none, so the common case allocates nothing.
   */
  window(from: number, to: number): { offset: number; transitions: Transition[] | null } {
    const first = Math.floor(from / DAY);
    const last = Math.floor(to / DAY);
    let offset = this.day(first).before;
    let transitions: Transition[] | null = null;
    for (let d = first; d <= last; d++) {
      for (const tr of this.day(d).transitions) {
        if (tr.at <= from) offset = tr.after;
        else if (tr.at <= to) (transitions ??= []).push(tr);
      }
    }
    return { offset, transitions };
  }
}

const zones = new Map<string, Zone>();
const canonicalNames = new Map<string, string | null>();

/** Shared, cached per canonical zone name. The name must already be validated. */
export function zoneFor(canonicalName: string): Zone {
  let z = zones.get(canonicalName);
  if (z === undefined) {
    z = new Zone(canonicalName);
    zones.set(canonicalName, z);
  }
  return z;
}

/** Canonical IANA name as Intl resolves it ('utc' → 'UTC', 'europe/berlin' → 'Europe/Berlin'), or null if unknown. */
export function canonicalZoneName(tz: string): string | null {
  let name = canonicalNames.get(tz);
  if (name === undefined) {
    try {
      name = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
    } catch {
      name = null;
    }
    if (canonicalNames.size >= 10_000) canonicalNames.clear();
    canonicalNames.set(tz, name);
  }
  return name;
}
