// A migrated database with the node's own connection settings, for tests that call
// the store's statements directly (no HTTP, no node process).
import { connect, type Sql } from '../../src/server/store/db.js';
import { migrate } from '../../src/server/store/migrate.js';
import { nodeRegister } from '../../src/server/store/nodes.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export interface StoreDb {
  db: TestDatabase;
  sql: Sql;
  /** another pool on the same database: a second node's connections */
  other(opts?: { url?: string; prepare?: boolean }): Sql;
  close(): Promise<void>;
}

export async function storeDatabase(): Promise<StoreDb> {
  const db = await createTestDatabase();
  const sql = connect({ url: db.url, max: 4 });
  await migrate(sql);
  const extra: Sql[] = [];
  return {
    db,
    sql,
    other(opts = {}) {
      const s = connect({ url: opts.url ?? db.url, max: 4, prepare: opts.prepare });
      extra.push(s);
      return s;
    },
    async close() {
      for (const s of extra) await s.end({ timeout: 1 });
      await sql.end({ timeout: 1 });
      await db.drop();
    },
  };
}

export async function registerNode(sql: Sql, id: string, leaseMs = 5000): Promise<void> {
  await nodeRegister(sql, { id, host: 'test', pid: process.pid, version: 'test', leaseMs });
}

/** One-time tasks due at `at` (the `log` action), inserted in one statement; returns their ids. */
export async function onceTasks(sql: Sql, n: number, at: Date): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    insert into tasks (name, kind, run_at, next_run_at)
    select 'task ' || i, 'once', ${at}, ${at} from generate_series(1, ${n}) i
    returning id`;
  return rows.map((r) => r.id);
}

/** A recurring task, every second, due from `from`. */
export async function everySecondTask(sql: Sql, from: Date, misfirePolicy: 'fire_once' | 'skip' = 'fire_once'): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into tasks (name, kind, cron_expression, next_run_at, misfire_policy)
    values ('every second', 'cron', '* * * * * *', ${from}, ${misfirePolicy}) returning id`;
  return row!.id;
}
