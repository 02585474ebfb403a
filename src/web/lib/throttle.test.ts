import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createKeyedThrottle } from './throttle';

describe('createKeyedThrottle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs the first call at once and collapses a burst into one trailing call', () => {
    const throttle = createKeyedThrottle(1000);
    const fn = vi.fn();
    throttle('runs', fn);
    expect(fn).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 50; i++) throttle('runs', fn);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(999);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(2);
    vi.advanceTimersByTime(5000);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('keeps keys independent', () => {
    const throttle = createKeyedThrottle(1000);
    const a = vi.fn();
    const b = vi.fn();
    throttle('a', a);
    throttle('b', b);
    throttle('a', a);
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
  });

  it('runs at once again after a quiet interval', () => {
    const throttle = createKeyedThrottle(1000);
    const fn = vi.fn();
    throttle('k', fn);
    vi.advanceTimersByTime(1500);
    throttle('k', fn);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('cancel drops pending trailing calls', () => {
    const throttle = createKeyedThrottle(1000);
    const fn = vi.fn();
    throttle('k', fn);
    throttle('k', fn);
    throttle.cancel();
    vi.advanceTimersByTime(2000);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
