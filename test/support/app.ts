// An in-process node on a fresh database: for API and engine tests that need no
// signals. (Tests that kill nodes use test/support/node.ts.)
import { pino } from 'pino';
import { startApp, type App, type StartOptions } from '../../src/server/app.js';
import { defaultSchedulerConfig, type Config, type SchedulerConfig } from '../../src/server/config.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export interface TestApp {
  app: App;
  db: TestDatabase;
  url: string;
  stop(): Promise<void>;
}

export async function startTestApp(
  opts: {
    scheduler?: Partial<SchedulerConfig>;
    nodeId?: string;
    db?: TestDatabase;
    auth?: Config['auth'];
    webhooks?: Config['webhooks'];
    host?: string;
    clock?: StartOptions['clock'];
    correctClock?: boolean;
  } = {},
): Promise<TestApp> {
  const db = opts.db ?? (await createTestDatabase());
  const app = await startApp(
    {
      port: 0,
      host: opts.host ?? '127.0.0.1',
      databaseUrl: db.url,
      nodeId: opts.nodeId ?? `inproc-${Math.random().toString(36).slice(2, 8)}`,
      dataDir: '/nonexistent',
      logLevel: 'silent',
      scheduler: { ...defaultSchedulerConfig, ...opts.scheduler },
      auth: opts.auth,
      webhooks: opts.webhooks,
    },
    { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), clock: opts.clock, correctClock: opts.correctClock },
  );
  return {
    app,
    db,
    url: app.url,
    async stop() {
      await app.stop();
      if (!opts.db) await db.drop();
    },
  };
}

/** A JSON request to an in-process node, without a socket: status, parsed body, headers. */
export async function injectJson(t: TestApp, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await t.app.http.inject({
    method: method as 'GET',
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.statusCode, body: (res.body ? res.json() : null) as any, headers: res.headers };
}
