import { describe, expect, it } from 'vitest';
import { formatCount, mergeBuckets, mergeFactor, upcomingGeometry } from './upcomingChart';

const from = Date.parse('2027-01-04T06:00:00Z');
const buckets = (n: number, at: Record<number, [number, number]> = {}) =>
  Array.from({ length: n }, (_, i) => ({ at: new Date(from + i * 60_000).toISOString(), once: at[i]?.[0] ?? 0, recurring: at[i]?.[1] ?? 0 }));

describe('upcoming chart geometry', () => {
  it('draws one bar per minute when there is room, stacking recurring under one-time', () => {
    const g = upcomingGeometry(buckets(60, { 30: [100_000, 12] }), 800, 200);
    expect(g.merge).toBe(1);
    expect(g.bars).toHaveLength(60);
    const spike = g.bars[30]!;
    expect(spike.once + spike.recurring).toBe(100_012);
    expect(spike.onceY + spike.onceHeight).toBeCloseTo(spike.recurringY);
    expect(spike.recurringY + spike.recurringHeight).toBeCloseTo(g.plot.bottom);
    expect(g.peak).toEqual({ at: new Date(from + 30 * 60_000).toISOString(), total: 100_012, minutes: 1 });
    expect(g.yMax).toBe(200_000);
  });

  it('merges minutes into wider bars on a narrow plot and keeps the sums', () => {
    expect(mergeFactor(1440, 300, 3)).toBe(15); // 96 bars of 3.1 px
    expect(mergeFactor(1440, 300)).toBe(10); // 144 bars of 2.1 px
    expect(mergeFactor(360, 900)).toBe(1); // 6 h at 1280 px: a bar per minute
    const merged = mergeBuckets(buckets(10, { 3: [5, 1], 4: [2, 0] }), 5);
    expect(merged).toEqual([
      { at: new Date(from).toISOString(), minutes: 5, once: 7, recurring: 1 },
      { at: new Date(from + 5 * 60_000).toISOString(), minutes: 5, once: 0, recurring: 0 },
    ]);
    const g = upcomingGeometry(buckets(1440, { 700: [9, 0] }), 340, 200);
    expect(g.bars.length).toBe(Math.ceil(1440 / g.merge));
    expect(g.peak?.total).toBe(9);
  });

  it('puts the time ticks on round times', () => {
    const g = upcomingGeometry(buckets(360), 900, 200); // from 06:00 UTC, 6 h
    expect(g.xTicks.map((t) => t.at.slice(11, 16))).toEqual(['06:00', '07:00', '08:00', '09:00', '10:00', '11:00']);
    expect(g.xTicks[1]!.x - g.xTicks[0]!.x).toBeCloseTo((60 * (g.plot.right - g.plot.left)) / 360);
  });

  it('has no peak when nothing is due', () => {
    expect(upcomingGeometry(buckets(30), 600, 200).peak).toBeNull();
  });

  it('formats counts for the axis', () => {
    expect(formatCount(950)).toBe('950');
    expect(formatCount(12_500)).toBe('13k');
    expect(formatCount(1_500)).toBe('1.5k');
    expect(formatCount(1_200_000)).toBe('1.2M');
  });
});
