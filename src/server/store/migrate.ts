import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Sql } from './db.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
// Any constant works; it only has to be the same on every node.
const MIGRATION_LOCK = 0x53554e44; // 'SUND'

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (f) => ({
      version: Number.parseInt(f, 10),
      name: f,
      sql: await readFile(dir + f, 'utf8'),
    })),
  );
}

/**
 * Applies numbered, forward-only migrations, each in its own transaction, under a
 * transaction-level advisory lock so nodes starting together apply each one once.
 */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  const applied: number[] = [];
  // under the lock too: two nodes racing on the very first create would otherwise both
  // try to create the table's row type, and the loser fails
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`create table if not exists schema_migrations (
      version integer primary key, name text not null, applied_at timestamptz not null default now())`;
  });
  for (const m of all) {
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
      const [done] = await tx`select 1 from schema_migrations where version = ${m.version}`;
      if (done) return;
      // a migration may build an index over a large table: no statement limit here
      await tx`set local statement_timeout = 0`;
      await tx.unsafe(m.sql);
      await tx`insert into schema_migrations (version, name) values (${m.version}, ${m.name})`;
      applied.push(m.version);
    });
  }
  return applied;
}

export async function pendingMigrations(sql: Sql): Promise<number> {
  const all = await loadMigrations();
  const rows = await sql<{ version: number }[]>`select version from schema_migrations`.catch(() => []);
  const done = new Set(rows.map((r) => r.version));
  return all.filter((m) => !done.has(m.version)).length;
}
