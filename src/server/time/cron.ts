// Cron semantics for Sundial: the only place in the project that knows them.
//
// Parsing and validation of the fields is croner's (CronPattern). Finding
// occurrences is done here, for two reasons measured in /work/shared/peers.md:
// croner with a time zone costs ~50-240 µs per nextRun, and its DST handling is not the
// rule of architecture.md: it treats "interval" patterns differently from "fixed-time"
// ones, so e.g. Berlin 2027-03-28 `*/15 2 * * *` gets no occurrence that day, the skipped
// Pacific/Apia 2011-12-30 gets none for `0 12 * * *`, and `*/30 * * * *` or Lord Howe
// `*/15 1 * * *` fire again in the second pass of a repeated hour.
//
// The model. A cron expression matches wall-clock times of the task's zone. Wall-clock
// times are represented as "local milliseconds": the local date and time read as if it
// were UTC. Each matching local time L fires at one instant f(L):
//   - L exists once:            the instant that shows L;
//   - L exists twice (clocks go back, "overlap"): its FIRST instant only — the
//     second pass of the repeated hour fires nothing, for any pattern, even `* * * * * *`;
//   - L does not exist (clocks go forward, "gap"): the transition instant, i.e. the first
//     instant after the jump. Every matching time in one gap maps to that same instant, so
//     a gap fires once, however many of its times match.
// f is non-decreasing in L, so "the first occurrence after t" is "the first matching L
// whose f(L) > t", found by walking the pattern's tables in local time (cheap calendar
// arithmetic) and converting with cached zone offsets (zone.ts). In UTC, f(L) = L.
//
// Day-of-month and day-of-week: standard Vixie-cron/POSIX semantics. When both fields are
// restricted, a day matches if EITHER matches (`0 0 1 * MON` = the 1st and every Monday);
// when either is unrestricted (`*` or `?`), the other one decides. croner's
// `domAndDow: false` (formerly `legacyMode: true`) is the same rule. A field counts as
// unrestricted only when it is exactly `*` or `?` (so `*/2` is restricted — unlike Vixie's
// "starts with *" quirk, like croner).
//
// Accepted syntax: 5 fields (minute hour day-of-month month day-of-week; seconds = 0) or
// 6 fields (seconds first); `*`, `?` (same as `*`), lists, ranges, `*/n` and `a-b/n` steps,
// month names JAN-DEC, weekday names SUN-SAT, weekday 0 or 7 = Sunday; macros @hourly
// @daily @midnight @weekly @monthly @yearly @annually. Rejected: 7 fields (year), @reboot
// and other macros, and croner's non-standard extensions L, W, #, + (nth/last weekday etc.).

import { CronPattern } from 'croner';
import cronstrue from 'cronstrue';
import { LIMITS } from '../../shared/schemas.js';
import { DAY, HOUR, MINUTE, SECOND, canonicalZoneName, zoneFor, type Zone } from './zone.js';

export type ScheduleField = 'schedule.expression' | 'schedule.timezone' | 'schedule.startAt' | 'schedule.endAt' | 'schedule.at';
export type ScheduleErrorCode = 'INVALID_SCHEDULE' | 'INVALID_TIMEZONE';

/** Invalid schedule input; `field` is the request field path, `code` an error code of src/server/errors.ts. */
export class ScheduleError extends Error {
  constructor(
    message: string,
    readonly field: ScheduleField,
    readonly code: ScheduleErrorCode = 'INVALID_SCHEDULE',
  ) {
    super(message);
    this.name = 'ScheduleError';
  }
}

export interface CronSpec {
  expression: string;
  /** IANA zone name; default 'UTC' */
  timezone?: string;
  startAt?: Date | null;
  endAt?: Date | null;
}

export interface CompiledCron {
  readonly expression: string;
  readonly timezone: string;
  readonly hasSeconds: boolean;
  /** first occurrence strictly after `after`, honouring startAt/endAt; null if none */
  nextAfter(after: Date): Date | null;
  /** up to `count` occurrences strictly after `after` */
  next(after: Date, count: number): Date[];
  /** plain-English description, e.g. "Every 5 minutes (Europe/Berlin)", "At 09:00, Monday through Friday (UTC)" */
  describe(): string;
}

// ---------------------------------------------------------------------------------------
// Limits of the search.

/** A pattern that can fire at all fires within any window this long (Feb 29 can be 8 years apart). */
const HORIZON = (8 * 366 + 31) * DAY;
/** Offsets beyond ±16 h do not exist, not even historical LMT ones. */
const MAX_OFFSET = 16 * HOUR;
/** A backward jump is shorter than this (the largest, 1867 Alaska, is one day). */
const MAX_OVERLAP = 26 * HOUR;
/** Supported range of instants; outside, Date.UTC's two-digit-year rule and Date's limits bite. */
const MIN_MS = Date.UTC(1000, 0, 1);
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

// ---------------------------------------------------------------------------------------
// Parsing.

const MACROS: Record<string, { expression: string; description: string }> = {
  '@yearly': { expression: '0 0 1 1 *', description: 'At 00:00, on January 1' },
  '@annually': { expression: '0 0 1 1 *', description: 'At 00:00, on January 1' },
  '@monthly': { expression: '0 0 1 * *', description: 'At 00:00, on day 1 of the month' },
  '@weekly': { expression: '0 0 * * 0', description: 'At 00:00, only on Sunday' },
  '@daily': { expression: '0 0 * * *', description: 'At 00:00, every day' },
  '@midnight': { expression: '0 0 * * *', description: 'At 00:00, every day' },
  '@hourly': { expression: '0 * * * *', description: 'Every hour' },
};

const MONTH_NAMES = new Set(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']);
const DAY_NAMES = new Set(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']);
const FIELD_NAMES = ['second', 'minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;
const FIELD_RANGES: Record<(typeof FIELD_NAMES)[number], readonly [number, number]> = {
  second: [0, 59],
  minute: [0, 59],
  hour: [0, 23],
  'day-of-month': [1, 31],
  month: [1, 12],
  'day-of-week': [0, 7], // 0 and 7 are Sunday
};

interface Tables {
  /** next[i] = smallest matching value >= i, or -1 */
  readonly nextSecond: Int8Array;
  readonly nextMinute: Int8Array;
  readonly nextHour: Int8Array;
  readonly nextMonth: Int8Array; // months 0-11
  readonly firstSecond: number;
  readonly firstMinute: number;
  readonly firstHour: number;
  readonly firstMonth: number;
  readonly dom: Uint8Array; // index 1..31
  /** nextDom[d] = smallest matching day-of-month >= d, or -1; only used when the weekday cannot veto */
  readonly nextDom: Int8Array;
  /** day-of-month alone decides (day-of-week is unrestricted) */
  readonly domOnly: boolean;
  readonly dow: Uint8Array; // 0 = Sunday
  /** both day fields restricted: a day matches if either matches */
  readonly domOrDow: boolean;
}

interface Parsed {
  readonly tables: Tables;
  readonly hasSeconds: boolean;
  /** normalised 5/6-field text (macro expanded) */
  readonly fields: string;
  readonly macroDescription: string | null;
}

function invalidExpression(expression: string, reason: string): ScheduleError {
  const shown = expression.length > 60 ? `${expression.slice(0, 57)}...` : expression;
  return new ScheduleError(`Invalid cron expression "${shown}": ${reason}`, 'schedule.expression');
}

function nextTable(flags: ArrayLike<number>, size: number, offset = 0): Int8Array {
  const t = new Int8Array(size).fill(-1);
  let next = -1;
  for (let i = size - 1; i >= 0; i--) {
    if (flags[i + offset]) next = i;
    t[i] = next;
  }
  return t;
}

function checkFieldSyntax(expression: string, field: string, kind: (typeof FIELD_NAMES)[number]): void {
  if (!/^[0-9A-Za-z*?,/-]+$/.test(field)) {
    if (/[#+]/.test(field)) {
      throw invalidExpression(expression, `the ${kind} field "${field}" uses '#' or '+', non-standard extensions Sundial does not support`);
    }
    throw invalidExpression(expression, `the ${kind} field "${field}" contains characters other than digits, names, * ? , - /`);
  }
  for (const word of field.match(/[A-Za-z]+/g) ?? []) {
    const upper = word.toUpperCase();
    const ok = (kind === 'month' && MONTH_NAMES.has(upper)) || (kind === 'day-of-week' && DAY_NAMES.has(upper));
    if (!ok) {
      if (/[LW]/.test(upper) && (kind === 'day-of-month' || kind === 'day-of-week')) {
        throw invalidExpression(expression, `the ${kind} field "${field}" uses 'L' or 'W', non-standard extensions Sundial does not support`);
      }
      const names = kind === 'month' ? ' (use JAN-DEC)' : kind === 'day-of-week' ? ' (use SUN-SAT)' : '';
      throw invalidExpression(expression, `"${word}" is not a valid ${kind} value${names}`);
    }
  }
  // Numeric ranges, checked here for messages in the user's terms (croner reports
  // day-of-month 0 as "day: -1"), and because croner lets a range end out of range (1-60/5).
  const [min, max] = FIELD_RANGES[kind];
  for (const item of field.split(',')) {
    const [range, step, extra] = item.split('/');
    if (extra !== undefined || range === '' || step === '') {
      throw invalidExpression(expression, `the ${kind} field "${field}" is malformed`);
    }
    for (const n of range!.split('-')) {
      if (/^\d+$/.test(n) && (Number(n) < min || Number(n) > max)) {
        throw invalidExpression(expression, `${n} is out of range for ${kind} (${min}-${max})`);
      }
    }
    if (step !== undefined && (!/^\d+$/.test(step) || Number(step) < 1)) {
      throw invalidExpression(expression, `the step in "${item}" must be a whole number of at least 1`);
    }
  }
}

function parseExpression(expression: unknown): Parsed {
  if (typeof expression !== 'string') {
    throw new ScheduleError('Invalid cron expression: must be a string', 'schedule.expression');
  }
  const text = expression.trim();
  if (text === '') {
    throw new ScheduleError('Invalid cron expression: it is empty', 'schedule.expression');
  }
  if (expression.length > LIMITS.expressionMaxLength) {
    throw invalidExpression(expression, `longer than ${LIMITS.expressionMaxLength} characters`);
  }
  let fieldsText = text;
  let macroDescription: string | null = null;
  if (text.startsWith('@')) {
    const macro = MACROS[text.toLowerCase()];
    if (!macro) {
      const reason =
        text.toLowerCase() === '@reboot'
          ? '@reboot is not supported (Sundial schedules by time, not by restarts)'
          : `unknown macro; use one of ${Object.keys(MACROS).join(' ')}`;
      throw invalidExpression(expression, reason);
    }
    fieldsText = macro.expression;
    macroDescription = macro.description;
  }
  const fields = fieldsText.split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw invalidExpression(
      expression,
      `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), got ${fields.length}`,
    );
  }
  const hasSeconds = fields.length === 6;
  const kinds = hasSeconds ? FIELD_NAMES : FIELD_NAMES.slice(1);
  fields.forEach((f, i) => checkFieldSyntax(expression, f, kinds[i]!));
  const normalised = fields.join(' ');

  let p: CronPattern;
  try {
    p = new CronPattern(normalised, undefined, { mode: '5-or-6-parts', alternativeWeekdays: false, sloppyRanges: false });
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/^CronPattern:\s*/, '') : String(e);
    throw invalidExpression(expression, reason);
  }
  // Belt and braces: the syntax check above already keeps these extensions out.
  if (p.lastDayOfMonth || p.lastWeekday || p.useAndLogic || p.nearestWeekdays.some(Boolean) || p.dayOfWeek.some((v) => v !== 0 && v !== 63)) {
    throw invalidExpression(expression, 'non-standard extensions (L, W, #, +) are not supported');
  }

  const dom = new Uint8Array(32);
  for (let d = 1; d <= 31; d++) dom[d] = p.day[d - 1] ? 1 : 0;
  const dow = new Uint8Array(7);
  for (let d = 0; d < 7; d++) dow[d] = p.dayOfWeek[d] ? 1 : 0;
  const nextSecond = nextTable(p.second, 60);
  const nextMinute = nextTable(p.minute, 60);
  const nextHour = nextTable(p.hour, 24);
  const nextMonth = nextTable(p.month, 12);
  const tables: Tables = {
    nextSecond,
    nextMinute,
    nextHour,
    nextMonth,
    firstSecond: nextSecond[0]!,
    firstMinute: nextMinute[0]!,
    firstHour: nextHour[0]!,
    firstMonth: nextMonth[0]!,
    dom,
    nextDom: nextTable(dom, 32),
    domOnly: p.starDOW,
    dow,
    domOrDow: !p.starDOM && !p.starDOW,
  };
  if (tables.firstSecond < 0 || tables.firstMinute < 0 || tables.firstHour < 0 || tables.firstMonth < 0) {
    throw invalidExpression(expression, 'a field matches no value');
  }
  // A pattern that matches no calendar date (Feb 30, Apr 31) never fires. Any pattern that
  // can match does so within 8 years of 2000-01-01 (leap days included), whatever the zone:
  // a skipped local time still fires.
  if (nextLocalMatch(tables, Date.UTC(2000, 0, 1), Date.UTC(2000, 0, 1) + HORIZON) === NO_MATCH) {
    throw invalidExpression(expression, 'it never fires (no calendar date matches its day-of-month and month fields)');
  }
  return { tables, hasSeconds, fields: normalised, macroDescription };
}

// ---------------------------------------------------------------------------------------
// Matching in local milliseconds.

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function daysInMonth(year: number, month: number): number {
  if (month !== 1) return MONTH_DAYS[month]!;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

function dayMatches(tb: Tables, dayStart: number, date: number): boolean {
  const weekday = (((Math.floor(dayStart / DAY) + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
  return tb.domOrDow ? tb.dom[date] === 1 || tb.dow[weekday] === 1 : tb.dom[date] === 1 && tb.dow[weekday] === 1;
}

/** nextLocalMatch found nothing (local times before 1970 are negative, so not -1) */
const NO_MATCH = Number.NEGATIVE_INFINITY;

/** Smallest matching local time >= from (whole seconds), or NO_MATCH if none up to `limit`. */
function nextLocalMatch(tb: Tables, from: number, limit: number): number {
  let t = Math.ceil(from / SECOND) * SECOND;
  const cal = new Date(0);
  while (t <= limit) {
    const dayStart = Math.floor(t / DAY) * DAY;
    cal.setTime(dayStart);
    const year = cal.getUTCFullYear();
    const month = cal.getUTCMonth();
    const nm = tb.nextMonth[month]!;
    if (nm !== month) {
      t = nm < 0 ? Date.UTC(year + 1, tb.firstMonth, 1) : Date.UTC(year, nm, 1);
      continue;
    }
    const date = cal.getUTCDate();
    if (!dayMatches(tb, dayStart, date)) {
      if (tb.domOnly) {
        // Jump straight to the next matching day of this month, if the month has it.
        const nd = tb.nextDom[date]!;
        t = nd < 0 || nd > daysInMonth(year, month) ? Date.UTC(year, month + 1, 1) : Date.UTC(year, month, nd);
      } else {
        t = dayStart + DAY;
      }
      continue;
    }
    const tod = t - dayStart;
    const h = Math.floor(tod / HOUR);
    const nh = tb.nextHour[h]!;
    if (nh < 0) {
      t = dayStart + DAY;
      continue;
    }
    if (nh !== h) return dayStart + nh * HOUR + tb.firstMinute * MINUTE + tb.firstSecond * SECOND;
    const mi = Math.floor((tod % HOUR) / MINUTE);
    const nmi = tb.nextMinute[mi]!;
    if (nmi < 0) {
      t = dayStart + (h + 1) * HOUR;
      continue;
    }
    if (nmi !== mi) return dayStart + h * HOUR + nmi * MINUTE + tb.firstSecond * SECOND;
    const s = Math.floor((tod % MINUTE) / SECOND);
    const ns = tb.nextSecond[s]!;
    if (ns < 0) {
      t = dayStart + h * HOUR + (mi + 1) * MINUTE;
      continue;
    }
    return dayStart + h * HOUR + mi * MINUTE + ns * SECOND;
  }
  return NO_MATCH;
}

// ---------------------------------------------------------------------------------------
// Local time <-> instant.

type Resolution = 'normal' | 'overlap' | 'gap';
interface Resolved {
  t: number;
  kind: Resolution;
}

/** The instant at which local time L fires (see the model at the top). */
function resolveLocal(zone: Zone, L: number): Resolved {
  const from = L - MAX_OFFSET;
  const w = zone.window(from, L + MAX_OFFSET);
  if (w.transitions === null) return { t: L - w.offset, kind: 'normal' };
  // Constant-offset segments [segStart, segEnd) of the window; L - offset must fall in its own segment.
  let first = Number.POSITIVE_INFINITY;
  let valid = 0;
  let segStart = from;
  let offset = w.offset;
  for (let i = 0; i <= w.transitions.length; i++) {
    const segEnd = i < w.transitions.length ? w.transitions[i]!.at : Number.POSITIVE_INFINITY;
    const t = L - offset;
    if (t >= segStart && t < segEnd) {
      valid++;
      if (t < first) first = t;
    }
    if (i < w.transitions.length) {
      segStart = segEnd;
      offset = w.transitions[i]!.after;
    }
  }
  if (valid > 0) return { t: first, kind: valid > 1 ? 'overlap' : 'normal' };
  // Skipped: fire at the first instant after the jump.
  for (const tr of w.transitions) {
    if (tr.after > tr.before && L >= tr.at + tr.before && L < tr.at + tr.after) return { t: tr.at, kind: 'gap' };
  }
  // Not reachable with consistent zone data; keep going rather than fail.
  return { t: L - zone.offsetAt(L - w.offset), kind: 'normal' };
}

function localIso(localMs: number): string {
  return new Date(localMs).toISOString().slice(0, 19);
}

// ---------------------------------------------------------------------------------------
// Compiled schedules.

function toMs(d: Date | null | undefined, field: ScheduleField): number | null {
  if (d === undefined || d === null) return null;
  const ms = d instanceof Date ? d.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new ScheduleError(`${field.slice('schedule.'.length)} is not a valid instant`, field);
  return ms;
}

class CronImpl implements CompiledCron {
  private description: string | undefined;
  private readonly firstOk: number;
  private readonly lastOk: number;

  constructor(
    readonly expression: string,
    readonly timezone: string,
    readonly zone: Zone | null, // null: UTC, no offsets to look up
    private readonly parsed: Parsed,
    readonly startMs: number | null,
    readonly endMs: number | null,
  ) {
    this.firstOk = Math.max(MIN_MS, startMs ?? MIN_MS);
    this.lastOk = Math.min(MAX_MS, endMs ?? MAX_MS);
  }

  get hasSeconds(): boolean {
    return this.parsed.hasSeconds;
  }

  nextAfter(after: Date): Date | null {
    const ms = this.nextAfterMs(after.getTime());
    return ms === null ? null : new Date(ms);
  }

  next(after: Date, count: number): Date[] {
    if (!Number.isFinite(count)) throw new RangeError('next: count must be a finite number');
    const out: Date[] = [];
    let t = after.getTime();
    for (let i = 0; i < count; i++) {
      const n = this.nextAfterMs(t);
      if (n === null) break;
      out.push(new Date(n));
      t = n;
    }
    return out;
  }

  /** First occurrence > after (ms), within [startAt, endAt]. */
  nextAfterMs(afterMs: number): number | null {
    if (Number.isNaN(afterMs)) throw new RangeError('nextAfter: invalid date');
    // Occurrences are whole seconds; "> after and >= startAt" is "> max(after, startAt - 1 ms)".
    const after = Math.max(afterMs, this.firstOk - 1);
    if (after >= this.lastOk) return null;
    const tb = this.parsed.tables;
    const zone = this.zone;
    if (zone === null) {
      const limit = Math.min(after + HORIZON, this.lastOk);
      const t = nextLocalMatch(tb, Math.floor(after / SECOND) * SECOND + SECOND, limit);
      return t === NO_MATCH || t > this.lastOk ? null : t;
    }
    // First local time worth trying: the second after `after`'s own wall clock, or, if `after`
    // is in the second pass of a repeated hour, the end of that hour (all its local times
    // fired in the first pass).
    const w = zone.window(after - MAX_OVERLAP, after);
    let offset = w.offset;
    let L = Number.NEGATIVE_INFINITY;
    if (w.transitions !== null) {
      for (const tr of w.transitions) {
        offset = tr.after;
        // clocks went back at tr.at and `after` is before the repeated range has passed a second time
        if (tr.after < tr.before && after < tr.at + (tr.before - tr.after)) L = Math.max(L, tr.at + tr.before);
      }
    }
    L = Math.max(L, Math.floor((after + offset) / SECOND) * SECOND + SECOND);
    const limit = Math.min(L + HORIZON, this.lastOk + MAX_OFFSET);
    for (;;) {
      const m = nextLocalMatch(tb, L, limit);
      if (m === NO_MATCH) return null;
      const { t } = resolveLocal(zone, m);
      if (t > after) return t > this.lastOk ? null : t;
      L = m + SECOND;
    }
  }

  describe(): string {
    if (this.description === undefined) {
      let text = this.parsed.macroDescription;
      if (text === null) {
        try {
          // cronstrue rejects '?' outside the day fields and reads weekday 0-7 as "Sunday through Sunday"
          const fields = this.parsed.fields.replace(/\?/g, '*').split(' ');
          if (fields[fields.length - 1] === '0-7') fields[fields.length - 1] = '*';
          text = cronstrue.toString(fields.join(' '), {
            use24HourTimeFormat: true,
            verbose: false,
            throwExceptionOnParseError: true,
          });
        } catch {
          text = this.expression.trim();
        }
      }
      this.description = `${text} (${this.timezone})`;
    }
    return this.description;
  }

  /** Is the occurrence at instant t DST-affected? */
  dstAt(t: number): 'gap' | 'overlap' | null {
    const zone = this.zone;
    if (zone === null) return null;
    const w = zone.window(t - MAX_OVERLAP, t + MAX_OVERLAP);
    if (w.transitions === null) return null;
    for (const tr of w.transitions) {
      if (tr.after > tr.before && tr.at === Math.floor(t / SECOND) * SECOND) {
        // Fired by the gap if some matching local time was skipped.
        const gapStart = tr.at + tr.before;
        const gapEnd = tr.at + tr.after;
        const m = nextLocalMatch(this.parsed.tables, gapStart, gapEnd - SECOND);
        if (m !== NO_MATCH && m < gapEnd) return 'gap';
      }
      if (tr.after < tr.before && t >= tr.at - (tr.before - tr.after) && t < tr.at + (tr.before - tr.after)) {
        return 'overlap';
      }
    }
    return null;
  }

  localOf(t: number): string {
    return localIso(this.zone === null ? t : t + this.zone.offsetAt(t));
  }
}

// ---------------------------------------------------------------------------------------
// Public entry points.

/** Validates an IANA zone name (e.g. 'Europe/Berlin', 'UTC'); throws ScheduleError on 'schedule.timezone'. */
export function assertTimeZone(tz: string): void {
  canonicalTimeZone(tz);
}

function canonicalTimeZone(tz: unknown): string {
  if (typeof tz !== 'string' || tz.length === 0) {
    throw new ScheduleError('Invalid time zone: must be a non-empty IANA name such as "Europe/Berlin" or "UTC"', 'schedule.timezone', 'INVALID_TIMEZONE');
  }
  // IANA names start with a letter; this also keeps out offsets like "+02:00" that some ICU versions accept.
  const canonical = tz.length <= LIMITS.timezoneMaxLength && /^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(tz) ? canonicalZoneName(tz) : null;
  if (canonical === null) {
    const shown = tz.length > 64 ? `${tz.slice(0, 61)}...` : tz;
    throw new ScheduleError(`Unknown time zone "${shown}": use an IANA name such as "Europe/Berlin" or "UTC"`, 'schedule.timezone', 'INVALID_TIMEZONE');
  }
  return canonical;
}

const CACHE_SIZE = 4096;
const cache = new Map<string, CronImpl>();

/**
 * Parses and validates a cron schedule. Cached (LRU, 4096 entries) by expression, zone and
 * bounds, so hot paths don't re-parse. Throws ScheduleError naming the field.
 */
export function compileCron(spec: CronSpec): CompiledCron {
  return compileImpl(spec);
}

function boundKey(d: unknown): string {
  return d instanceof Date ? String(d.getTime()) : d === undefined || d === null ? '' : `?${String(d)}`;
}

function compileImpl(spec: CronSpec): CronImpl {
  const timezone = spec.timezone ?? 'UTC';
  const key = `${String(spec.expression)}\u0000${String(timezone)}\u0000${boundKey(spec.startAt)}\u0000${boundKey(spec.endAt)}`;
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }

  // Validate in field order: expression, timezone, startAt, endAt.
  const parsed = parseExpression(spec.expression);
  const canonical = canonicalTimeZone(timezone);
  const startMs = toMs(spec.startAt, 'schedule.startAt');
  const endMs = toMs(spec.endAt, 'schedule.endAt');
  if (startMs !== null && endMs !== null && endMs <= startMs) {
    throw new ScheduleError('endAt must be after startAt', 'schedule.endAt');
  }
  const zone = canonical === 'UTC' ? null : zoneFor(canonical);
  const compiled = new CronImpl(spec.expression, timezone, zone, parsed, startMs, endMs);
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, compiled);
  return compiled;
}

/**
 * For the preview endpoint: the instant as ISO UTC with ms, its wall-clock time
 * 'YYYY-MM-DDTHH:mm:ss' in the schedule's zone, and whether the occurrence was DST-affected:
 * 'gap' — a matching local time was skipped and this is the first instant after the jump;
 * 'overlap' — its local time occurs twice and this is the first of them.
 */
export function describeOccurrence(c: CompiledCron, at: Date): { at: string; local: string; dst: 'gap' | 'overlap' | null } {
  const impl = c instanceof CronImpl ? c : compileImpl({ expression: c.expression, timezone: c.timezone });
  const t = at.getTime();
  if (Number.isNaN(t)) throw new RangeError('describeOccurrence: invalid date');
  return { at: at.toISOString(), local: impl.localOf(t), dst: impl.dstAt(t) };
}
