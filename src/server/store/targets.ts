// Every SQL statement about per-origin delivery state. Each node keeps its state in
// memory (webhooks/dispatcher.ts) and writes a snapshot here every heartbeat interval;
// GET /api/targets merges the snapshots of live nodes.
import type { Sql } from './db.js';
import type { OriginSnapshot } from '../webhooks/dispatcher.js';

/** Replaces this node's snapshot: one small JSON array (the busiest origins). */
export async function nodeTargetsSave(sql: Sql, nodeId: string, items: OriginSnapshot[]): Promise<void> {
  await sql`update nodes set targets = ${sql.json(items as never)}, targets_at = now() where id = ${nodeId}`;
}

/** Snapshots of nodes whose lease is live, taken within the last `maxAgeMs`. */
export async function nodeTargetsList(sql: Sql, maxAgeMs: number): Promise<{ nodeId: string; items: OriginSnapshot[] }[]> {
  const rows = await sql<{ id: string; targets: OriginSnapshot[] }[]>`
    select id, targets from nodes
    where lease_until >= now() and stopped_at is null and targets is not null
      and targets_at > now() - make_interval(secs => ${maxAgeMs / 1000})`;
  return rows.map((r) => ({ nodeId: r.id, items: r.targets }));
}
