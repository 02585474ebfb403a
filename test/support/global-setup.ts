// Starts one embedded PostgreSQL for the whole suite, through the same supervised
// child process the server uses, so this process (the test runner) never imports
// embedded-postgres and keeps its real exit code. Each test file creates its own
// database on it (test/support/postgres.ts).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const entry = new URL('../../dist/server/store/embedded-postgres.js', import.meta.url);
  if (!existsSync(entry)) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it for you)');
  const { startEmbeddedPostgres } = (await import(entry.href)) as typeof import('../../src/server/store/embedded-postgres.js');
  const dir = mkdtempSync(join(tmpdir(), 'sundial-test-pg-'));
  const pg = await startEmbeddedPostgres(dir);
  project.provide('pgAdminUrl', pg.url);
  process.env.SUNDIAL_TEST_PG_URL = pg.url;
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
