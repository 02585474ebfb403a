// Membership, per-node leases and the housekeeping leader lease.
import type { Sql } from './db.js';

export interface NodeRow {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: Date;
  heartbeatAt: Date;
  leaseUntil: Date;
  stoppedAt: Date | null;
  /** PostgreSQL's clock minus the node's, measured at its last heartbeat (null: not yet) */
  clockOffsetMs: number | null;
  clockRttMs: number | null;
  held: number;
}

/**
 * Registers (or re-registers) a node. A node restarted under the same id does not
 * remember what its previous life claimed, so those runs are handed back here;
 * otherwise the new lease would keep them from being rescued.
 */
export async function nodeRegister(
  sql: Sql,
  n: { id: string; host: string; pid: number; version: string; leaseMs: number },
): Promise<{ released: number }> {
  return sql.begin(async (tx) => {
    await tx`
      insert into nodes (id, host, pid, version, started_at, heartbeat_at, lease_until, stopped_at)
      values (${n.id}, ${n.host}, ${n.pid}, ${n.version}, now(), now(), now() + ${n.leaseMs} * interval '1 ms', null)
      on conflict (id) do update set host = excluded.host, pid = excluded.pid, version = excluded.version,
        started_at = now(), heartbeat_at = now(), lease_until = excluded.lease_until, stopped_at = null`;
    const released = await tx`
      update runs set node_id = null where node_id = ${n.id} and status in ('pending', 'running') returning id`;
    return { released: released.length };
  });
}

export interface Beat {
  /** the lease was still valid when renewed; false: others may own our runs now */
  wasValid: boolean;
  /** the server's clock_timestamp() while it renewed the lease */
  serverNow: Date;
  /** live nodes, this one included, and what they reported holding */
  liveNodes: number;
  clusterHeld: number;
}

/**
 * Renews the lease and stores the clock offset measured at the previous beat. The
 * server's own clock, read here, is what the next offset is measured from.
 */
export async function nodeHeartbeat(
  sql: Sql,
  id: string,
  leaseMs: number,
  clock?: { offsetMs: number; rttMs: number },
  held = 0,
): Promise<Beat> {
  const [row] = await sql<{ wasValid: boolean; serverNow: Date; liveNodes: string; clusterHeld: string }[]>`
    with prev as (select lease_until >= now() as was_valid, heartbeat_at from nodes where id = ${id}),
    -- This node's own lease lapsed (an outage, a freeze): so may everyone's have, at once.
    -- In the same statement that renews its lease, renew for one lease the others that
    -- were valid at its previous beat: no node is rescued before it had a full lease
    -- since the database came back (see nodesLeaseGrace), and no claim of this node
    -- that waited out the outage in the pool can rescue in between.
    grace as (
      update nodes o set lease_until = now() + ${leaseMs} * interval '1 ms'
      from prev
      where not prev.was_valid and o.id <> ${id} and o.stopped_at is null
        and o.lease_until >= prev.heartbeat_at and o.lease_until < now() + ${leaseMs} * interval '1 ms'
    ),
    beat as (
      update nodes n set heartbeat_at = now(), lease_until = now() + ${leaseMs} * interval '1 ms', stopped_at = null,
                         clock_offset_ms = coalesce(${clock?.offsetMs ?? null}::float8, n.clock_offset_ms),
                         clock_rtt_ms = coalesce(${clock?.rttMs ?? null}::float8, n.clock_rtt_ms),
                         held = ${held}
      from prev
      where n.id = ${id}
      returning prev.was_valid
    )
    -- the others as they were before this statement; this node as it is now
    select beat.was_valid, clock_timestamp() as server_now,
           1 + count(o.id) as live_nodes, ${held} + coalesce(sum(o.held), 0) as cluster_held
    from beat left join nodes o on o.id <> ${id} and o.stopped_at is null and o.lease_until >= now()
    group by beat.was_valid`;
  if (!row) throw new Error(`node ${id} is not registered`);
  return { wasValid: row.wasValid, serverNow: row.serverNow, liveNodes: Number(row.liveNodes), clusterHeld: Number(row.clusterHeld) };
}

/**
 * After this node could not reach the database for `awayMs` (an outage, a failover):
 * renews, for one lease from now, the lease of every other running node whose lease
 * was still valid when this node lost the database. After an outage every lease lapsed
 * at once and nodes reconnect at different speeds (a pool may wait on a dead socket);
 * a lapsed lease says nothing about its node until it had a full lease since the
 * database came back, so no node's runs are rescued (attempt bumped, buffered results
 * fenced) before that. A node that really died meanwhile is rescued one lease later.
 */
export async function nodesLeaseGrace(sql: Sql, id: string, leaseMs: number, awayMs: number): Promise<number> {
  const rows = await sql`
    update nodes o set lease_until = now() + ${leaseMs} * interval '1 ms'
    where o.id <> ${id} and o.stopped_at is null
      and o.lease_until < now() + ${leaseMs} * interval '1 ms'
      and o.lease_until >= now() - (${awayMs}::float8 + ${leaseMs}) * interval '1 ms'
    returning 1`;
  return rows.length;
}

export async function nodeStop(sql: Sql, id: string): Promise<void> {
  await sql`update nodes set stopped_at = now(), lease_until = now() where id = ${id}`;
}

/** Live nodes, and those that died in the last few minutes (shown as not alive). */
export async function nodeList(sql: Sql, recentMs = 5 * 60_000): Promise<(NodeRow & { alive: boolean })[]> {
  return sql<(NodeRow & { alive: boolean })[]>`
    select *, (stopped_at is null and lease_until >= now()) as alive from nodes
    where heartbeat_at > now() - ${recentMs} * interval '1 ms'
    order by started_at, id`;
}

export async function nodesPrune(sql: Sql, olderThanMs: number): Promise<number> {
  const rows = await sql`
    delete from nodes n where heartbeat_at < now() - ${olderThanMs} * interval '1 ms'
      and not exists (select 1 from runs r where r.node_id = n.id and r.status in ('pending', 'running'))
    returning 1`;
  return rows.length;
}

/** Takes or renews a named lease; true if this node holds it afterwards. */
export async function leaderLeaseAcquire(sql: Sql, name: string, nodeId: string, leaseMs: number): Promise<boolean> {
  const rows = await sql`
    insert into leader_leases (name, node_id, lease_until)
    values (${name}, ${nodeId}, now() + ${leaseMs} * interval '1 ms')
    on conflict (name) do update set node_id = excluded.node_id, lease_until = excluded.lease_until
      where leader_leases.node_id = excluded.node_id or leader_leases.lease_until < now()
    returning node_id`;
  return rows.length > 0;
}

export async function leaderLeaseRelease(sql: Sql, name: string, nodeId: string): Promise<void> {
  await sql`delete from leader_leases where name = ${name} and node_id = ${nodeId}`;
}

/** One round trip to the database (readiness). */
export async function databasePing(sql: Sql): Promise<void> {
  await sql`select 1`;
}
