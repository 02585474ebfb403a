// The lifecycle every long-running part of a node shares, and the one account of the
// work a node has taken on.

/**
 * A long-running part of a node. `start()` begins its work and `stop()` ends it,
 * waiting for what is in progress; both are idempotent, and a stopped service leaves
 * no timer behind. app.ts starts services in dependency order and stops them in
 * reverse.
 */
export interface Service {
  start(): void | Promise<void>;
  stop(): Promise<void>;
}

/**
 * Occurrences this node has claimed and not yet settled (recorded, handed back or
 * dropped), with their approximate memory. The executor opens an entry when it
 * takes a run, whoever ends the run's life here closes it; the claimer reads the
 * totals for back-pressure. Closing is idempotent, so two paths may both close.
 */
export class InFlight {
  private readonly entries = new Map<string, number>();
  /** entries that stay in the account (has, bytes) but do not count against the claim budget */
  private readonly uncounted = new Set<string>();
  private total = 0;

  get count(): number {
    return this.entries.size - this.uncounted.size;
  }

  /**
   * Whether an open entry counts against the claim budget. The deliverer uncounts the
   * runs queued behind a backed-up webhook origin's cap, so that origin does not stop
   * the node from claiming for the others; their memory still counts (bytes).
   */
  setCounted(id: string, counted: boolean): void {
    if (!this.entries.has(id)) return;
    if (counted) this.uncounted.delete(id);
    else this.uncounted.add(id);
  }

  get bytes(): number {
    return this.total;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  open(id: string, bytes: number): void {
    if (this.entries.has(id)) return;
    this.entries.set(id, bytes);
    this.total += bytes;
  }

  close(id: string): void {
    const bytes = this.entries.get(id);
    if (bytes === undefined) return;
    this.entries.delete(id);
    this.uncounted.delete(id);
    this.total -= bytes;
  }

  ids(): Set<string> {
    return new Set(this.entries.keys());
  }
}
