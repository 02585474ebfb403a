import type { Logger } from 'pino';
import type { Sql } from '../store/db.js';
import { leaderLeaseAcquire, leaderLeaseRelease, nodesPrune } from '../store/nodes.js';
import { runsPrune } from '../store/runs.js';
import { tasksPrune } from '../store/tasks.js';

const LEASE = 'housekeeping';
const INTERVAL_MS = 60_000;

/**
 * Work that must happen once, not once per node: pruning old runs and long-dead
 * node rows. Whoever holds the `housekeeping` lease does it; when that node dies
 * the lease lapses and another takes it on its next tick.
 */
export class Housekeeper {
  private timer?: NodeJS.Timeout;
  private work?: Promise<void>;

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    private readonly retentionDays: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), INTERVAL_MS);
    this.timer.unref();
    setTimeout(() => this.tick(), 5000).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.work;
    await leaderLeaseRelease(this.sql, LEASE, this.nodeId).catch(() => {});
  }

  tick(): Promise<void> {
    this.work ??= (async () => {
      try {
        if (!(await leaderLeaseAcquire(this.sql, LEASE, this.nodeId, INTERVAL_MS * 2))) return;
        const cutoff = new Date(Date.now() - this.retentionDays * 86_400_000);
        const runs = await runsPrune(this.sql, cutoff);
        const tasks = await tasksPrune(this.sql, cutoff);
        const nodes = await nodesPrune(this.sql, 86_400_000);
        if (runs || tasks || nodes) this.log.info({ runs, tasks, nodes }, 'pruned');
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'housekeeping failed');
      } finally {
        this.work = undefined;
      }
    })();
    return this.work;
  }
}
