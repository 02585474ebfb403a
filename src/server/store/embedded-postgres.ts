import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ChildMessage } from './embedded-postgres-child.js';

const CHILD = fileURLToPath(new URL('./embedded-postgres-child.js', import.meta.url));

export interface EmbeddedPostgresHandle {
  /** connection URL of the `postgres` database */
  url: string;
  port: number;
  /** stops PostgreSQL cleanly and waits for the child to exit */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Embedded PostgreSQL cannot run here for a reason the operator can fix; the message says how. */
export class StartupRefused extends Error {}

/** Starts embedded PostgreSQL in a supervised child process (see embedded-postgres-child.ts). */
export async function startEmbeddedPostgres(dataDir: string, port?: number): Promise<EmbeddedPostgresHandle> {
  const pgPort = port ?? (await freePort());
  const child: ChildProcess = fork(CHILD, [], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, SUNDIAL_PG_DATA_DIR: dataDir, SUNDIAL_PG_PORT: String(pgPort) },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<ChildMessage & { type: 'ready' }>((resolve, reject) => {
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') resolve(m);
      else reject(m.clear ? new StartupRefused(m.message) : new Error(m.message));
    });
    child.once('exit', (code) => reject(new Error(`embedded PostgreSQL supervisor exited with code ${code}`)));
  });
  // The channel stays open on purpose: its closing is how the child learns we died.
  child.unref();
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
  return {
    port: ready.port,
    url: `postgres://${ready.user}:${ready.password}@127.0.0.1:${ready.port}/postgres`,
    async stop() {
      // keep this process alive until PostgreSQL is down (the child was unref'd so it
      // would not hold the event loop open while running)
      child.ref();
      if (child.exitCode === null && child.connected) child.send({ type: 'stop' });
      await exited;
    },
  };
}
