import postgres from 'postgres';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

export interface DbOptions {
  url: string;
  /** pool size; the claimer, the recorder and the API share it */
  max?: number;
  applicationName?: string;
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
    idle_timeout: 60,
    connect_timeout: 10,
    onnotice: () => {},
    // columns arrive camelCased; int8 (run ids, counts) arrive as strings, the form
    // they leave the API in
    transform: { column: { from: postgres.toCamel } },
    connection: { application_name: opts.applicationName ?? 'sundial' },
  });
}
