// The one source of "now". Services take a Clock so tests can replace it
// instead of sleeping.

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = {
  now: () => new Date(),
};

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  private ms: number;

  constructor(start: Date | string | number = 0) {
    this.ms = new Date(start).getTime();
    if (Number.isNaN(this.ms)) throw new RangeError(`ManualClock: invalid start ${String(start)}`);
  }

  now(): Date {
    return new Date(this.ms);
  }

  set(to: Date | string | number): void {
    const ms = new Date(to).getTime();
    if (Number.isNaN(ms)) throw new RangeError(`ManualClock: invalid time ${String(to)}`);
    this.ms = ms;
  }

  advance(ms: number): Date {
    this.ms += ms;
    return this.now();
  }
}
