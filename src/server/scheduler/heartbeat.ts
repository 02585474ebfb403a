import type { Logger } from 'pino';
import type { Sql } from '../store/db.js';
import { nodeHeartbeat } from '../store/nodes.js';

/** Renews this node's lease every `heartbeatMs`; the lease is what keeps its claims its own. */
export class Heartbeat {
  private timer?: NodeJS.Timeout;
  private beat?: Promise<void>;

  constructor(
    private readonly sql: Sql,
    private readonly nodeId: string,
    private readonly heartbeatMs: number,
    private readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.beat) return; // the previous one is still waiting on the database
      this.beat = nodeHeartbeat(this.sql, this.nodeId, this.leaseMs)
        .then((wasValid) => {
          if (!wasValid) this.log.warn('lease had lapsed: runs claimed before may have been taken over (their results are fenced)');
        })
        .catch((err) => this.log.warn({ err: (err as Error).message }, 'heartbeat failed'))
        .finally(() => (this.beat = undefined));
    }, this.heartbeatMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beat;
  }
}
