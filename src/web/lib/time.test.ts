import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatInstant,
  formatLag,
  formatOffset,
  formatRelative,
  instantToZonedWallTime,
  zonedWallTimeToInstant,
  zoneOffsetMs,
} from './time';

describe('zone arithmetic', () => {
  it('finds the offset of a zone at an instant', () => {
    expect(zoneOffsetMs(Date.parse('2026-01-15T12:00:00Z'), 'Europe/Berlin')).toBe(3_600_000);
    expect(zoneOffsetMs(Date.parse('2026-07-15T12:00:00Z'), 'Europe/Berlin')).toBe(7_200_000);
    expect(zoneOffsetMs(Date.parse('2026-07-15T12:00:00.456Z'), 'America/New_York')).toBe(-4 * 3_600_000);
    expect(formatOffset(-4 * 3_600_000)).toBe('-04:00');
    expect(formatOffset(5.5 * 3_600_000)).toBe('+05:30');
  });

  it('turns a wall time in a zone into an instant', () => {
    expect(zonedWallTimeToInstant('2026-12-01 09:00:00', 'Europe/Berlin')?.toISOString()).toBe('2026-12-01T08:00:00.000Z');
    expect(zonedWallTimeToInstant('2026-07-01 09:00', 'America/New_York')?.toISOString()).toBe('2026-07-01T13:00:00.000Z');
    expect(zonedWallTimeToInstant('2026-07-01T09:00:30', 'UTC')?.toISOString()).toBe('2026-07-01T09:00:30.000Z');
  });

  it('resolves a skipped wall time to the first instant after the jump', () => {
    // 2026-03-29 02:30 does not exist in Berlin (02:00 CET -> 03:00 CEST).
    expect(zonedWallTimeToInstant('2026-03-29 02:30:00', 'Europe/Berlin')?.toISOString()).toBe('2026-03-29T01:30:00.000Z');
  });

  it('resolves a repeated wall time to its first occurrence', () => {
    // 2026-10-25 02:30 happens twice in Berlin; the first is CEST (+02:00).
    expect(zonedWallTimeToInstant('2026-10-25 02:30:00', 'Europe/Berlin')?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
  });

  it('rejects malformed input and unknown zones', () => {
    expect(zonedWallTimeToInstant('tomorrow', 'UTC')).toBeNull();
    expect(zonedWallTimeToInstant('2026-07-01 09:00', 'Mars/Olympus')).toBeNull();
  });

  it('round-trips through the wall clock', () => {
    const iso = '2026-05-05T17:45:12.000Z';
    const wall = instantToZonedWallTime(iso, 'Asia/Kolkata');
    expect(wall).toBe('2026-05-05 23:15:12');
    expect(zonedWallTimeToInstant(wall, 'Asia/Kolkata')?.toISOString()).toBe(iso);
  });
});

describe('formatting', () => {
  it('formats instants in a zone, with milliseconds on request', () => {
    expect(formatInstant('2026-11-23T13:03:05.007Z', { zone: 'utc', ms: true })).toBe('2026-11-23 13:03:05.007');
    expect(formatInstant('2026-11-23T13:03:05.007Z', { zone: 'Europe/Berlin' })).toBe('2026-11-23 14:03:05');
    expect(formatInstant('2026-11-23T13:03:05.007Z', { zone: 'utc', weekday: true })).toBe('Mon 2026-11-23 13:03:05');
    expect(formatInstant(null)).toBe('—');
  });

  it('drops the date for an instant on the same day', () => {
    const now = Date.parse('2026-11-23T20:00:00Z');
    expect(formatInstant('2026-11-23T13:03:05Z', { zone: 'utc', now })).toBe('13:03:05');
    expect(formatInstant('2026-11-24T13:03:05Z', { zone: 'utc', now })).toBe('2026-11-24 13:03:05');
  });

  it('describes relative times the way people say them', () => {
    const now = Date.parse('2026-11-23T12:00:00Z');
    expect(formatRelative('2026-11-23T12:04:00Z', now)).toBe('in 4 min');
    expect(formatRelative('2026-11-23T11:59:48Z', now)).toBe('12 s ago');
    expect(formatRelative('2026-11-23T14:05:00Z', now)).toBe('in 2 h 5 min');
    expect(formatRelative('2026-11-23T12:00:00.400Z', now)).toBe('now');
    expect(formatRelative('2026-11-26T16:00:00Z', now)).toBe('in 3 d 4 h');
    expect(formatDuration(270_000)).toBe('4 min 30 s');
  });

  it('formats lag', () => {
    expect(formatLag(7)).toBe('7 ms');
    expect(formatLag(1240)).toBe('1.24 s');
    expect(formatLag(123_000)).toBe('2 min 3 s');
    expect(formatLag(null)).toBe('—');
  });
});
