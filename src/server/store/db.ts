import postgres from 'postgres';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

export interface DbOptions {
  url: string;
  /** pool size; the claimer, the recorder and the API share it */
  max?: number;
  applicationName?: string;
  /** server-side limit on a transaction left idle by this client (ms) */
  idleInTransactionTimeoutMs?: number;
  /** named prepared statements (default true) */
  prepare?: boolean;
}

/**
 * One postgres.js pool per node. postgres.js reconnects by itself after the server
 * restarts or fails over (a URL naming several hosts with
 * target_session_attrs=read-write finds the new primary); queries issued while it is
 * down fail and the services retry on their next tick.
 */
export function connect(opts: DbOptions): Sql {
  return postgres(opts.url, {
    max: opts.max ?? 10,
    prepare: opts.prepare ?? true,
    idle_timeout: 60,
    connect_timeout: 10,
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
      // A node that freezes (SIGSTOP, VM pause) or vanishes inside a transaction keeps
      // its row locks: the claim's FOR UPDATE on due tasks would make every other node
      // SKIP LOCKED past them until the node woke up, and no lease covers runs not yet
      // written. PostgreSQL ends such a session after this long idle in a transaction,
      // rolling the claim back; others then claim the tasks. Our transactions never
      // wait on the client for more than milliseconds.
      ...(opts.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: String(opts.idleInTransactionTimeoutMs) } : {}),
    } as Record<string, string>,
  });
}
