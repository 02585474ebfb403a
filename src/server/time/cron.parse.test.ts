// Validation, caching and descriptions of cron schedules.
import { describe, expect, it } from 'vitest';
import { ScheduleError, assertTimeZone, compileCron, type CronSpec } from './cron.js';

function errorOf(spec: CronSpec): ScheduleError {
  try {
    compileCron(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(ScheduleError);
    return e as ScheduleError;
  }
  throw new Error(`expected ${JSON.stringify(spec)} to be rejected`);
}

const iso = (s: string) => new Date(s);

describe('compileCron: accepted syntax', () => {
  it.each([
    ['*/5 * * * *', false],
    ['0 9 * * 1-5', false],
    ['0 9 * * MON-FRI', false],
    ['0 9 * * mon-fri', false],
    ['0 0 1,15 JAN,jul *', false],
    ['10-40/15 * * * *', false],
    ['0 0 ? * *', false],
    ['0 0 * * ?', false],
    ['? ? * * *', false],
    ['0 0 * * 7', false],
    ['0 0 * * 0-7', false],
    ['0 0 * * 5-7', false],
    ['0 0 * JAN-DEC/2 *', false],
    ['0 0 29 2 *', false],
    ['0 0 30 2 MON', false],
    ['*/15 * * * * *', true],
    ['0 30 9 * * MON-FRI', true],
    ['  0   9\t* * *  ', false],
  ])('%j (seconds: %s)', (expression, hasSeconds) => {
    const c = compileCron({ expression });
    expect(c.hasSeconds).toBe(hasSeconds);
    expect(c.expression).toBe(expression);
    expect(c.timezone).toBe('UTC');
  });

  it.each(['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually', '@DAILY', ' @hourly '])('macro %j', (expression) => {
    const c = compileCron({ expression });
    expect(c.hasSeconds).toBe(false);
    expect(c.nextAfter(iso('2026-01-01T00:00:00Z'))).toBeInstanceOf(Date);
  });
});

describe('compileCron: rejected expressions name schedule.expression', () => {
  it.each<[string, RegExp]>([
    ['', /empty/],
    ['   ', /empty/],
    ['\t\n', /empty/],
    ['* * * *', /expected 5 fields .* or 6 .*got 4/],
    ['0 0 0 * * * 2025', /got 7/],
    ['0 0 0 1 1 * 2025 x', /got 8/],
    ['@reboot', /@reboot is not supported/],
    ['@REBOOT', /@reboot is not supported/],
    ['@every 5m', /unknown macro/],
    ['@fortnightly', /unknown macro/],
    ['60 * * * *', /60 is out of range for minute \(0-59\)/],
    ['* 24 * * *', /24 is out of range for hour \(0-23\)/],
    ['* * 0 * *', /0 is out of range for day-of-month \(1-31\)/],
    ['* * 32 * *', /32 is out of range for day-of-month/],
    ['* * * 0 *', /0 is out of range for month \(1-12\)/],
    ['* * * 13 *', /13 is out of range for month/],
    ['* * * * 8', /8 is out of range for day-of-week \(0-7\)/],
    ['60 * * * * *', /60 is out of range for second \(0-59\)/],
    ['1-60/5 * * * *', /60 is out of range for minute/],
    ['5-1 * * * *', /larger/],
    ['5/5 * * * *', /stepping/],
    ['*/0 * * * *', /step in "\*\/0" must be a whole number of at least 1/],
    ['*/61 * * * *', /steps cannot be greater/],
    ['1,,2 * * * *', /malformed/],
    ['1/2/3 * * * *', /malformed/],
    ['-5 * * * *', /.+/],
    ['0 0 L * *', /'L' or 'W'.*not support/],
    ['0 0 * * 5L', /'L' or 'W'.*not support/],
    ['0 0 15W * *', /'L' or 'W'.*not support/],
    ['0 0 LW * *', /'L' or 'W'.*not support/],
    ['0 0 * * FRI#2', /'#' or '\+'.*not support/],
    ['0 0 1 * +MON', /'#' or '\+'.*not support/],
    ['a b c d e', /"a" is not a valid minute value/],
    ['0 0 * FOO *', /"FOO" is not a valid month value \(use JAN-DEC\)/],
    ['0 0 * * MONDAY', /"MONDAY" is not a valid day-of-week value/],
    ['0 0 * JAN-MON *', /"MON" is not a valid month value/],
    ['0 0 MON * *', /"MON" is not a valid day-of-month value/],
    ['0 0 * * * ;', /characters other than/],
    ['0 0 30 2 *', /never fires/],
    ['0 0 31 4 *', /never fires/],
    ['0 0 31 2,4,6,9,11 *', /never fires/],
    ['0 0 30,31 2 *', /never fires/],
    ['0 0 0 31 11 *', /never fires/],
    ['x'.repeat(201), /longer than 200/],
  ])('%j', (expression, message) => {
    const e = errorOf({ expression });
    expect(e.field).toBe('schedule.expression');
    expect(e.code).toBe('INVALID_SCHEDULE');
    expect(e.name).toBe('ScheduleError');
    expect(e.message).toMatch(message);
  });

  it('rejects a non-string expression', () => {
    const e = errorOf({ expression: 42 as unknown as string });
    expect(e.field).toBe('schedule.expression');
    expect(e.message).toMatch(/must be a string/);
  });

  it('quotes the expression in the message', () => {
    expect(errorOf({ expression: '61 * * * *' }).message).toMatch(/^Invalid cron expression "61 \* \* \* \*": /);
  });
});

describe('time zones', () => {
  it.each(['UTC', 'Etc/UTC', 'utc', 'GMT', 'Europe/Berlin', 'America/New_York', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5', 'Australia/Lord_Howe'])(
    'accepts %j',
    (tz) => {
      expect(() => assertTimeZone(tz)).not.toThrow();
      expect(compileCron({ expression: '0 * * * *', timezone: tz }).timezone).toBe(tz);
    },
  );

  it.each(['', 'Europe/Nowhere', 'Mars/Olympus', '+02:00', '-05:00', 'Z', ' Europe/Berlin', 'Europe/Berlin ', 'Europe Berlin', 'x'.repeat(65)])(
    'rejects %j on schedule.timezone',
    (tz) => {
      let caught: unknown;
      try {
        assertTimeZone(tz);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ScheduleError);
      expect((caught as ScheduleError).field).toBe('schedule.timezone');
      expect((caught as ScheduleError).code).toBe('INVALID_TIMEZONE');
      const e = errorOf({ expression: '0 * * * *', timezone: tz });
      expect(e.field).toBe('schedule.timezone');
      expect(e.message).toMatch(/time zone/);
    },
  );

  it('rejects a non-string zone', () => {
    expect(() => assertTimeZone(undefined as unknown as string)).toThrow(ScheduleError);
  });

  it('defaults to UTC', () => {
    const c = compileCron({ expression: '0 9 * * *' });
    expect(c.timezone).toBe('UTC');
    expect(c.nextAfter(iso('2026-06-01T00:00:00Z'))!.toISOString()).toBe('2026-06-01T09:00:00.000Z');
  });
});

describe('bounds', () => {
  it('rejects endAt <= startAt on schedule.endAt', () => {
    const startAt = iso('2026-01-01T00:00:00Z');
    expect(errorOf({ expression: '* * * * *', startAt, endAt: startAt }).field).toBe('schedule.endAt');
    expect(errorOf({ expression: '* * * * *', startAt, endAt: iso('2025-12-31T23:59:59Z') }).field).toBe('schedule.endAt');
    expect(errorOf({ expression: '* * * * *', startAt, endAt: iso('2025-12-31T23:59:59Z') }).message).toMatch(/endAt must be after startAt/);
  });

  it('rejects invalid dates on their own field', () => {
    expect(errorOf({ expression: '* * * * *', startAt: new Date('nope') }).field).toBe('schedule.startAt');
    expect(errorOf({ expression: '* * * * *', endAt: new Date('nope') }).field).toBe('schedule.endAt');
    expect(errorOf({ expression: '* * * * *', startAt: '2026-01-01' as unknown as Date }).field).toBe('schedule.startAt');
  });

  it('accepts null and a single bound', () => {
    expect(() => compileCron({ expression: '* * * * *', startAt: null, endAt: null })).not.toThrow();
    expect(() => compileCron({ expression: '* * * * *', endAt: iso('2020-01-01T00:00:00Z') })).not.toThrow();
  });

  it('validates the expression first, then the zone, then the bounds', () => {
    const bad = { expression: 'nope', timezone: 'Nowhere/Zone', startAt: new Date('x'), endAt: new Date('y') };
    expect(errorOf(bad).field).toBe('schedule.expression');
    expect(errorOf({ ...bad, expression: '* * * * *' }).field).toBe('schedule.timezone');
    expect(errorOf({ ...bad, expression: '* * * * *', timezone: 'UTC' }).field).toBe('schedule.startAt');
  });
});

describe('cache', () => {
  it('returns the same compiled object for the same expression, zone and bounds', () => {
    const a = compileCron({ expression: '*/7 * * * *', timezone: 'Europe/Berlin' });
    expect(compileCron({ expression: '*/7 * * * *', timezone: 'Europe/Berlin' })).toBe(a);
    expect(compileCron({ expression: '*/7 * * * *', timezone: 'Europe/Paris' })).not.toBe(a);
    const b = compileCron({ expression: '*/7 * * * *', timezone: 'Europe/Berlin', startAt: iso('2026-01-01T00:00:00Z') });
    expect(b).not.toBe(a);
    expect(compileCron({ expression: '*/7 * * * *', timezone: 'Europe/Berlin', startAt: iso('2026-01-01T00:00:00Z') })).toBe(b);
    // undefined and null bounds are the same schedule
    expect(compileCron({ expression: '*/7 * * * *', timezone: 'Europe/Berlin', startAt: null, endAt: null })).toBe(a);
  });

  it('keeps working after evicting (more distinct schedules than the cache holds)', () => {
    const first = compileCron({ expression: '0 0 1 1 *', startAt: new Date(0) });
    for (let i = 1; i <= 5000; i++) compileCron({ expression: '0 0 1 1 *', startAt: new Date(i * 1000) });
    const again = compileCron({ expression: '0 0 1 1 *', startAt: new Date(0) });
    expect(again).not.toBe(first); // evicted, rebuilt
    expect(again.nextAfter(iso('2026-05-01T00:00:00Z'))!.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('does not cache failures', () => {
    expect(() => compileCron({ expression: '0 0 30 2 *' })).toThrow(/never fires/);
    expect(() => compileCron({ expression: '0 0 30 2 *' })).toThrow(/never fires/);
  });
});

describe('describe()', () => {
  it.each<[string, string, string]>([
    ['*/5 * * * *', 'Europe/Berlin', 'Every 5 minutes (Europe/Berlin)'],
    ['0 9 * * 1-5', 'UTC', 'At 09:00, Monday through Friday (UTC)'],
    ['0 9 * * MON-FRI', 'UTC', 'At 09:00, Monday through Friday (UTC)'],
    ['30 14 * * *', 'America/New_York', 'At 14:30 (America/New_York)'],
    ['*/15 * * * * *', 'UTC', 'Every 15 seconds (UTC)'],
    ['0 0 1 * MON', 'UTC', 'At 00:00, on day 1 of the month, and on Monday (UTC)'],
    ['0 12 29 2 *', 'UTC', 'At 12:00, on day 29 of the month, only in February (UTC)'],
    ['0 0 ? * *', 'UTC', 'At 00:00 (UTC)'],
    ['? ? * * *', 'UTC', 'Every minute (UTC)'],
    ['0 0 * * 7', 'UTC', 'At 00:00, only on Sunday (UTC)'],
    ['0 0 * * 0-7', 'UTC', 'At 00:00 (UTC)'],
    ['0 0 * * 5-7', 'UTC', 'At 00:00, Friday through Sunday (UTC)'],
    ['0 0 1,15 JAN,jul *', 'UTC', 'At 00:00, on day 1 and 15 of the month, only in January and July (UTC)'],
    ['59 59 23 31 12 *', 'UTC', 'At 23:59:59, on day 31 of the month, only in December (UTC)'],
    ['@hourly', 'UTC', 'Every hour (UTC)'],
    ['@daily', 'Asia/Tokyo', 'At 00:00, every day (Asia/Tokyo)'],
    ['@midnight', 'UTC', 'At 00:00, every day (UTC)'],
    ['@weekly', 'UTC', 'At 00:00, only on Sunday (UTC)'],
    ['@monthly', 'UTC', 'At 00:00, on day 1 of the month (UTC)'],
    ['@yearly', 'UTC', 'At 00:00, on January 1 (UTC)'],
    ['@annually', 'UTC', 'At 00:00, on January 1 (UTC)'],
  ])('%j in %s', (expression, timezone, text) => {
    expect(compileCron({ expression, timezone }).describe()).toBe(text);
  });
});
