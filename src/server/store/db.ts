import postgres from 'postgres';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

/** A connection attempt to a host that does not answer gives up after this (then the next host). */
export const CONNECT_TIMEOUT_S = 5;
/** TCP keepalive starts probing an idle connection after this. */
export const KEEPALIVE_S = 5;
export const STATEMENT_TIMEOUT_MS = 30_000;

export interface DbOptions {
  url: string;
  /** pool size; the claimer, the recorder and the API share it */
  max?: number;
  applicationName?: string;
  /** server-side limit on a transaction left idle by this client (ms) */
  idleInTransactionTimeoutMs?: number;
  /** named prepared statements (default true) */
  prepare?: boolean;
  /**
   * Plan every statement for its own parameters and the table as it is now, never from
   * a plan cached earlier in the session (plan_cache_mode = force_custom_plan). For
   * pools whose statements are few and whose plans must follow tables that grow:
   * PostgreSQL caches a generic plan after five executions, and one cached while a table
   * was empty is a sequential scan that stays until the table is next analysed
   * (test/store/plans.test.ts). This does not save a plan from missing statistics: the
   * claim, which met both in a million-task import, fixes its own (runs.ts,
   * walkDueIndex). Planning again costs 0.1–0.4 ms a statement.
   */
  customPlans?: boolean;
}

/** target_session_attrs of a URL ('' when absent). */
function sessionAttrs(url: string): string {
  return /[?&]target_session_attrs=([^&]*)/.exec(url)?.[1] ?? '';
}

/** A URL naming several hosts (postgres://a:5432,b:5432/db): a primary and its standbys. */
export function isMultiHost(url: string): boolean {
  return /^[a-z]+:\/\/[^/]*,/i.test(url);
}

/**
 * One postgres.js pool per node. postgres.js reconnects by itself after the server
 * restarts or fails over; queries issued while it is down fail and the services retry
 * on their next tick (the claimer within a second, the recorder every 0.5 s), so claims
 * and results resume as soon as a primary accepts writes.
 *
 * Failover: a URL naming several hosts tries them in order and keeps only a server
 * that is not a standby (target_session_attrs=primary), so the pool follows the
 * promoted standby. `read-write` is read as `primary` too: postgres.js 3.4.9 decides
 * read-write from the default_transaction_read_only a server reports at startup (off on
 * a hot standby, which is read-only by recovery, not by that setting), so it accepted a
 * standby and every write failed there until the pool recycled (the failover drill: a
 * promotion of the third host left the nodes on the second, a standby, for minutes). A host that does not answer costs
 * CONNECT_TIMEOUT_S before the next is tried; TCP keepalives find a dead server under an
 * idle connection, and statement_timeout bounds a statement stuck on the server.
 */
export function connect(opts: DbOptions): Sql {
  const multiHost = isMultiHost(opts.url);
  return postgres(opts.url, {
    max: opts.max ?? 10,
    prepare: opts.prepare ?? true,
    idle_timeout: 60,
    connect_timeout: CONNECT_TIMEOUT_S,
    keep_alive: KEEPALIVE_S,
    ...(multiHost && /^(|read-write)$/.test(sessionAttrs(opts.url)) ? { target_session_attrs: 'primary' as const } : {}),
    // Reconnect attempts after failures: postgres.js waits (0.5–1) × min(3^n / 100, 20) s
    // by default, n counting failed connects across the pool, so after a few seconds of
    // outage the pool waits 10–20 s before trying again and the node stayed blind that
    // long after the server was back (measured: claims resumed 10 s after a PostgreSQL
    // restart; see docs/reliability.md). Capped at 1 s: a refused connect costs nothing.
    backoff: (retries: number) => Math.min(0.1 * 2 ** retries, 1),
    onnotice: () => {},
    // columns arrive camelCased; int8 (run ids, counts) arrive as strings, the form
    // they leave the API in
    transform: { column: { from: postgres.toCamel } },
    connection: {
      application_name: opts.applicationName ?? 'sundial',
      // the longest statement any service issues is a batch of a few thousand rows (tens
      // of ms); one running this long is stuck, and its pool slot is better freed
      statement_timeout: String(STATEMENT_TIMEOUT_MS),
      // A node that freezes (SIGSTOP, VM pause) or vanishes inside a transaction keeps
      // its row locks: the claim's FOR UPDATE on due tasks would make every other node
      // SKIP LOCKED past them until the node woke up, and no lease covers runs not yet
      // written. PostgreSQL ends such a session after this long idle in a transaction,
      // rolling the claim back; others then claim the tasks. Our transactions never
      // wait on the client for more than milliseconds.
      ...(opts.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: String(opts.idleInTransactionTimeoutMs) } : {}),
      ...(opts.customPlans ? { plan_cache_mode: 'force_custom_plan' } : {}),
    } as Record<string, string>,
  });
}
