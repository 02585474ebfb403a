import { fullFormats } from 'ajv-formats/dist/formats.js';
import { describe, expect, it } from 'vitest';
import { isDateTime } from './validation.js';

const library = (fullFormats['date-time'] as { validate: (s: string) => boolean }).validate;

/** A small random generator with a seed, so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

describe('isDateTime', () => {
  it('agrees with ajv-formats on the cases that matter', () => {
    const cases = [
      '2026-12-01T09:00:00Z', '2026-12-01t09:00:00z', '2026-12-01 09:00:00+01:00', '2026-12-01T09:00:00.123456-05:30',
      '2026-12-01T09:00:00+0100', '2026-12-01T09:00:00+01', '2026-12-01T09:00:00', '2026-12-01T09:00Z',
      '2024-02-29T00:00:00Z', '2026-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z', '2026-00-01T00:00:00Z', '2026-01-00T00:00:00Z', '2026-01-32T00:00:00Z',
      '2026-12-31T23:59:60Z', '2026-12-31T23:59:60.5Z', '2026-12-31T22:59:60-01:00', '2026-12-31T23:59:60+01:00',
      '2027-01-01T00:59:60+01:00', '2026-12-31T24:00:00Z', '2026-12-31T23:60:00Z', '2026-12-31T23:59:61Z',
      '2026-12-31T10:00:00+24:00', '2026-12-31T10:00:00+23:59', '2026-12-31T10:00:00+01:60', '2026-12-31T10:00:00.Z',
      '2026-12-01TT09:00:00Z', '2026-12-01T09:00:00Z ', ' 2026-12-01T09:00:00Z', '2026-12-01\t09:00:00Z',
      '2026-12-01\u00a009:00:00Z', '+02026-12-01T09:00:00Z', '2026-12-01T09:00:00+1:00', '2026-12-01T09:00:00+01:0',
      '2026-1-01T09:00:00Z', '２０２６-12-01T09:00:00Z', '', 'now', '2026-12-01T09:00:00Z\n',
    ];
    for (const s of cases) expect([s, isDateTime(s)]).toEqual([s, library(s)]);
  });

  it('agrees with ajv-formats on 200,000 strings built from date-time parts', () => {
    const next = rng(20261203);
    const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]!;
    const two = () => String(Math.floor(next() * 100)).padStart(2, '0');
    const parts = [
      () => String(Math.floor(next() * 10_000)).padStart(4, '0'), () => '-', two, () => '-', two, () => pick(['T', 't', ' ', 'x', 'TT', '']),
      two, () => ':', two, () => ':', two, () => pick(['', '', '.5', '.123456', '.', '.x']),
      () => pick(['Z', 'z', '', '+', '-', '+0', '+01:', '-05:30', '+0530', '+01', '+23:59', '+24:00', '-00:60', 'Z0']),
    ];
    let accepted = 0;
    for (let n = 0; n < 200_000; n++) {
      let s = parts.map((p) => p()).join('');
      // make the rare valid shapes common: months, days, hours and minutes in range
      if (next() < 0.7) s = s.replace(/^(\d{4})-\d\d-\d\d/, (_, y) => `${y}-${String(1 + Math.floor(next() * 12)).padStart(2, '0')}-${String(1 + Math.floor(next() * 31)).padStart(2, '0')}`);
      if (next() < 0.7) s = s.replace(/(\d\d):(\d\d):(\d\d)/, () => `${pick(['00', '09', '22', '23'])}:${pick(['00', '30', '59'])}:${pick(['00', '59', '60'])}`);
      const mine = isDateTime(s);
      if (mine !== library(s)) expect([s, mine]).toEqual([s, library(s)]);
      if (mine) accepted++;
    }
    // the generator reaches both answers often
    expect(accepted).toBeGreaterThan(10_000);
    expect(accepted).toBeLessThan(190_000);
  });
});
