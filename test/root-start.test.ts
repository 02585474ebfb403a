// `npm start` as root from a checkout under a folder only root can enter (root's home
// is mode 0700): embedded PostgreSQL runs as the postgres user, which can reach neither
// the binaries in node_modules nor the data folder there. The node must start anyway.
// CI runs as root, so this runs there; as another user it is skipped.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));
const isRoot = process.getuid?.() === 0;

/** A closed folder on the same file system as the checkout, so node_modules can be hard-linked. */
function closedFolder(): string {
  const base = statSync(tmpdir()).dev === statSync(repo).dev ? tmpdir() : repo;
  const dir = mkdtempSync(join(base, '.sundial-root-'));
  spawnSync('chmod', ['0700', dir]);
  return dir;
}

const boxes: string[] = [];
afterAll(() => {
  for (const b of boxes) {
    const link = join(b, 'checkout', 'data', 'postgres');
    try {
      if (lstatSync(link).isSymbolicLink()) rmSync(realpathSync(link), { recursive: true, force: true });
    } catch {
      // never created
    }
    rmSync(b, { recursive: true, force: true });
  }
});

function checkoutIn(box: string): string {
  const dir = join(box, 'checkout');
  mkdirSync(dir);
  for (const f of ['package.json', 'bin', 'dist']) cpSync(join(repo, f), join(dir, f), { recursive: true });
  // hard links: a copy of node_modules under the closed folder, in a second
  const cp = spawnSync('cp', ['-al', join(repo, 'node_modules'), join(dir, 'node_modules')]);
  expect(cp.status).toBe(0);
  return dir;
}

function startNode(cwd: string, args: string[]) {
  const child = spawn(process.execPath, ['bin/sundial.js', 'serve', '--port', '0', ...args], {
    cwd,
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const started = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*sundial node started/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`node exited with ${code}:\n${out}`)));
  });
  started.catch(() => {}); // a test that expects the exit reads `exited` instead
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, started, exited, output: () => out };
}

describe.skipIf(!isRoot)('as root, from a checkout under a 0700 folder', () => {
  it('npm start runs: binaries and data are placed where the postgres user reaches them', async () => {
    const box = closedFolder();
    boxes.push(box);
    const dir = checkoutIn(box);
    const node = startNode(dir, []);
    try {
      const url = await node.started;
      const res = await fetch(`${url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'root', schedule: { type: 'cron', expression: '0 * * * *' } }) });
      expect(res.status).toBe(201);
      const link = join(dir, 'data', 'postgres');
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(existsSync(join(realpathSync(link), 'PG_VERSION'))).toBe(true);
      expect(node.output()).not.toMatch(/EACCES|Permission denied|\n\s+at /);
    } finally {
      node.child.kill('SIGTERM');
      expect(await node.exited).toBe(0);
    }
    // a second start finds the same data through the link
    const again = startNode(dir, []);
    try {
      const url = await again.started;
      const list = (await (await fetch(`${url}/api/tasks`)).json()) as { items: { name: string }[] };
      expect(list.items.map((t) => t.name)).toEqual(['root']);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  }, 180_000);

  it('--data-dir under a closed folder holding data of its own stops at once with one clear line', async () => {
    const box = closedFolder();
    boxes.push(box);
    const data = join(box, 'inner', 'postgres');
    mkdirSync(data, { recursive: true });
    cpSync(join(repo, 'package.json'), join(data, 'something-already-here'));
    const node = startNode(repo, ['--data-dir', dirname(data)]);
    const code = await node.exited;
    expect(code).toBe(1);
    const lines = node.output().trim().split('\n').filter((l) => l.startsWith('sundial:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cannot reach the data folder .* choose a --data-dir/);
    expect(node.output()).not.toMatch(/\n\s+at /);
  }, 60_000);
});
