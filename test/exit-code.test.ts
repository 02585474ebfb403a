import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

it('a failing test makes the test command exit non-zero (embedded PostgreSQL cannot swallow it)', () => {
  const res = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/vitest.fixture.config.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
    timeout: 120_000,
  });
  const out = res.stdout + res.stderr;
  expect(out).toMatch(/1 failed/);
  expect(out).toMatch(/expected 2 to be 3/);
  expect(res.status).toBe(1);
});
