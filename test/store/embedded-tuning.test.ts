// The embedded PostgreSQL the suite runs on is the server's own default (global-setup):
// its data folder carries the settings sized for millions of tasks.
import postgres from 'postgres';
import { expect, it } from 'vitest';
import { adminUrl } from '../support/postgres.js';

it('embedded PostgreSQL has buffers and WAL sized for a million-task import, still open to ALTER SYSTEM', async () => {
  const sql = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    const [wal] = await sql`select setting, unit, source from pg_settings where name = 'max_wal_size'`;
    // 4 GB in MB, from the configuration file: ALTER SYSTEM (postgresql.auto.conf) still overrides it
    expect({ mb: Number(wal!.setting), unit: wal!.unit, source: wal!.source }).toEqual({ mb: 4096, unit: 'MB', source: 'configuration file' });
    const [buffers] = await sql`select setting::bigint * 8192 / 1048576 as mb, source from pg_settings where name = 'shared_buffers'`;
    expect(Number(buffers!.mb)).toBeGreaterThanOrEqual(128);
    expect(Number(buffers!.mb)).toBeLessThanOrEqual(256);
    expect(buffers!.source).toBe('configuration file');
  } finally {
    await sql.end();
  }
});
