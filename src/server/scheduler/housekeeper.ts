import type { Logger } from 'pino';
import type { Sql } from '../store/db.js';
import { leaderLeaseAcquire, leaderLeaseRelease, nodesPrune } from '../store/nodes.js';
import { runsPrune } from '../store/runs.js';
import { tasksPrune } from '../store/tasks.js';
import type { Clock, Timer } from '../time/clock.js';
import type { Service } from './service.js';

const LEASE = 'housekeeping';
const INTERVAL_MS = 60_000;
/** the first round waits this long after start, out of the way of start-up work */
const FIRST_MS = 5000;

export interface HousekeeperDeps {
  sql: Sql;
  nodeId: string;
  clock: Clock;
  retentionDays: number;
  log: Logger;
}

/**
 * Work that must happen once, not once per node: pruning old runs, finished tasks and
 * long-dead node rows. Whoever holds the `housekeeping` lease does it; when that node
 * dies the lease lapses and another takes it on its next round.
 */
export class Housekeeper implements Service {
  private timer?: Timer;
  private work?: Promise<void>;
  private running = false;

  constructor(private readonly deps: HousekeeperDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm(FIRST_MS);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.work;
    await leaderLeaseRelease(this.deps.sql, LEASE, this.deps.nodeId).catch(() => {});
  }

  private arm(ms: number) {
    if (!this.running) return;
    this.timer = this.deps.clock.setTimer(() => void this.round().finally(() => this.arm(INTERVAL_MS)), ms);
  }

  /** One round now (also what the timer runs). */
  round(): Promise<void> {
    const { sql, nodeId, clock, retentionDays, log } = this.deps;
    this.work ??= (async () => {
      try {
        if (!(await leaderLeaseAcquire(sql, LEASE, nodeId, INTERVAL_MS * 2))) return;
        const cutoff = new Date(clock.now().getTime() - retentionDays * 86_400_000);
        const runs = await runsPrune(sql, cutoff);
        const tasks = await tasksPrune(sql, cutoff);
        const nodes = await nodesPrune(sql, 86_400_000);
        if (runs || tasks || nodes) log.info({ runs, tasks, nodes }, 'pruned');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'housekeeping failed');
      } finally {
        this.work = undefined;
      }
    })();
    return this.work;
  }
}
