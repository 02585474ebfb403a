// Per-key throttle with a leading and a trailing call: the first hint runs at once, hints that
// arrive within `intervalMs` collapse into one trailing call. Under a heavy load the event
// stream may carry dozens of hints a second; a query still refetches at most once per interval.
export interface KeyedThrottle {
  (key: string, fn: () => void): void;
  cancel(): void;
}

export function createKeyedThrottle(intervalMs: number, now: () => number = Date.now): KeyedThrottle {
  const lastRun = new Map<string, number>();
  const pending = new Map<string, { timer: ReturnType<typeof setTimeout>; fn: () => void }>();

  const run = (key: string, fn: () => void) => {
    lastRun.set(key, now());
    fn();
  };

  const throttle = ((key: string, fn: () => void) => {
    const scheduled = pending.get(key);
    if (scheduled) {
      scheduled.fn = fn; // the trailing call uses the latest function
      return;
    }
    const elapsed = now() - (lastRun.get(key) ?? -Infinity);
    if (elapsed >= intervalMs) {
      run(key, fn);
      return;
    }
    const entry = {
      fn,
      timer: setTimeout(() => {
        pending.delete(key);
        run(key, entry.fn);
      }, intervalMs - elapsed),
    };
    pending.set(key, entry);
  }) as KeyedThrottle;

  throttle.cancel = () => {
    for (const { timer } of pending.values()) clearTimeout(timer);
    pending.clear();
  };
  return throttle;
}
