// Every SQL statement about generated credentials: API token hashes and settings that
// all nodes must share (the webhook signing secret).
import type { Sql } from './db.js';

export interface ApiTokenRow {
  name: string;
  tokenSha256: Buffer;
  scope: 'admin' | 'read';
}

/** Stores a token hash under `name` unless one exists; true if this call stored it. */
export async function apiTokenInsertIfAbsent(sql: Sql, t: ApiTokenRow): Promise<boolean> {
  const rows = await sql`
    insert into api_tokens (name, token_sha256, scope) values (${t.name}, ${t.tokenSha256}, ${t.scope})
    on conflict (name) do nothing returning name`;
  return rows.length > 0;
}

export async function apiTokenList(sql: Sql): Promise<ApiTokenRow[]> {
  return sql<ApiTokenRow[]>`select name, token_sha256, scope from api_tokens order by name`;
}

/** The stored value, or `value` stored now if none was: the first node to ask wins. */
export async function settingGetOrCreate(sql: Sql, name: string, value: string): Promise<{ value: string; created: boolean }> {
  const inserted = await sql<{ value: string }[]>`
    insert into settings (name, value) values (${name}, ${value})
    on conflict (name) do nothing returning value`;
  if (inserted[0]) return { value: inserted[0].value, created: true };
  const [row] = await sql<{ value: string }[]>`select value from settings where name = ${name}`;
  return { value: row!.value, created: false };
}
