import { describe, expect, it } from 'vitest';
import { formatAxisMs, lagChartGeometry, linePath, minuteSlots, niceCeil } from './lagChart';

describe('lag chart geometry', () => {
  it('rounds the axis up to 1, 2 or 5 × 10^n', () => {
    expect(niceCeil(0)).toBe(10);
    expect(niceCeil(7)).toBe(10);
    expect(niceCeil(13)).toBe(20);
    expect(niceCeil(420)).toBe(500);
    expect(niceCeil(1000)).toBe(1000);
  });

  it('breaks a line where a minute had no runs', () => {
    const path = linePath([1, null, 3, 4], (i) => i * 10, (v) => v);
    expect(path).toBe('M0.0,1.0M20.0,3.0L30.0,4.0');
  });

  it('places points, bars and ticks inside the plot', () => {
    const points = [
      { minute: '2026-11-23T12:00:00.000Z', runs: 10, p50Ms: 4, p99Ms: 30 },
      { minute: '2026-11-23T12:01:00.000Z', runs: 0, p50Ms: null, p99Ms: null },
      { minute: '2026-11-23T12:02:00.000Z', runs: 20, p50Ms: 6, p99Ms: 45 },
    ];
    const g = lagChartGeometry(points, 600, 180, (iso) => iso.slice(11, 16));
    expect(g.yMax).toBe(50);
    expect(g.xTicks.map((t) => t.label)).toEqual(['12:00', '12:01', '12:02']);
    expect(g.p99Path.startsWith('M56.0,')).toBe(true);
    expect(g.p99Path).toContain('M592.0,');
    expect(g.bars[1]!.height).toBe(0);
    expect(g.bars[2]!.height).toBeGreaterThan(g.bars[0]!.height);
    for (const bar of g.bars) expect(bar.y + bar.height).toBeCloseTo(g.plot.bottom);
  });

  it('copes with no data', () => {
    const g = lagChartGeometry([], 600, 180, () => '');
    expect(g.p50Path).toBe('');
    expect(g.xTicks).toEqual([]);
  });
});

describe('minute slots', () => {
  it('fills the minutes the server left out, ending at the current minute', () => {
    const now = Date.parse('2026-11-23T12:05:30Z');
    const slots = minuteSlots([{ minute: '2026-11-23T12:03:00.000Z', runs: 5, p50Ms: 2, p99Ms: 9 }], now, 4);
    expect(slots.map((s) => s.minute.slice(11, 16))).toEqual(['12:02', '12:03', '12:04', '12:05']);
    expect(slots.map((s) => s.runs)).toEqual([0, 5, 0, 0]);
    expect(slots[2]!.p50Ms).toBeNull();
  });

  it('labels the axis compactly', () => {
    expect(formatAxisMs(250)).toBe('250 ms');
    expect(formatAxisMs(2.5)).toBe('2.5 ms');
    expect(formatAxisMs(20_000)).toBe('20 s');
    expect(formatAxisMs(120_000)).toBe('2 min');
  });
});
