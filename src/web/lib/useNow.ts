// One shared clock for every relative time on screen ("in 4 min", "2 s ago"): a single
// interval ticks all subscribers together instead of one timer per cell.
import { useSyncExternalStore } from 'react';

const TICK_MS = 1000;
const listeners = new Set<() => void>();
let now = Date.now();
let timer: ReturnType<typeof setInterval> | undefined;

function subscribe(listener: () => void) {
  listeners.add(listener);
  if (!timer) {
    now = Date.now();
    timer = setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, TICK_MS);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

/** The current time in ms, re-rendering the caller once a second. */
export function useNow(): number {
  return useSyncExternalStore(subscribe, () => now);
}

/**
 * The current time rounded down to the minute: re-renders the caller only when the minute
 * turns. For cells that only need to know which day it is (a date shown unless today), so a
 * page of 50 runs does not re-render 100 timestamps every second.
 */
export function useNowMinute(): number {
  return useSyncExternalStore(subscribe, () => Math.floor(now / 60_000) * 60_000);
}
