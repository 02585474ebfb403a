// The one place that wires the services, in order; stop() undoes it in reverse.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { defaultAuthConfig, defaultWebhookConfig, type Config } from './config.js';
import { setupAuth } from './api/auth.js';
import { buildHttp } from './api/server.js';
import { EventHub } from './events.js';
import { createMetrics } from './metrics.js';
import { Claimer } from './scheduler/claimer.js';
import { Executor } from './scheduler/executor.js';
import { Heartbeat } from './scheduler/heartbeat.js';
import { Housekeeper } from './scheduler/housekeeper.js';
import { Recorder } from './scheduler/recorder.js';
import { connect, type Sql } from './store/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './store/embedded-postgres.js';
import { migrate, pendingMigrations } from './store/migrate.js';
import { dbPing, nodeRegister, nodeStop } from './store/nodes.js';
import { runsRelease } from './store/runs.js';
import { settingGetOrCreate } from './store/credentials.js';
import { NoticeListener } from './store/notices.js';
import { tasksDueBacklog } from './store/tasks.js';
import { systemClock, type Clock } from './time/clock.js';
import { VERSION } from './version.js';
import { WebhookDeliverer } from './webhooks/deliverer.js';
import { parseAllowList } from './webhooks/ssrf.js';

export interface App {
  readonly config: Config;
  readonly http: FastifyInstance;
  readonly sql: Sql;
  readonly log: Logger;
  /** the address the HTTP server listens on, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  stop(): Promise<void>;
}

export async function startApp(config: Config, opts: { clock?: Clock; logger?: Logger } = {}): Promise<App> {
  // synchronous: the last lines before process.exit (the drain summary) must not be lost
  const log = opts.logger ?? pino({ level: config.logLevel, base: { node: config.nodeId } }, pino.destination({ dest: 1, sync: true }));
  const clock = opts.clock ?? systemClock;
  const cfg = config.scheduler;
  const metrics = createMetrics();
  const hub = new EventHub();

  let embedded: EmbeddedPostgresHandle | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const dir = join(config.dataDir, 'postgres');
    log.info({ dir }, 'no DATABASE_URL: starting embedded PostgreSQL');
    embedded = await startEmbeddedPostgres(dir);
    databaseUrl = embedded.url;
  }

  const authConfig = { ...defaultAuthConfig, ...config.auth };
  const webhookConfig = { ...defaultWebhookConfig, ...config.webhooks };
  const allow = parseAllowList(webhookConfig.allow);

  const sql = connect({
    url: databaseUrl,
    max: 10,
    applicationName: `sundial:${config.nodeId}`,
    idleInTransactionTimeoutMs: cfg.leaseMs,
  });
  let auth;
  let webhookSecrets: string[];
  try {
    const applied = await migrate(sql);
    if (applied.length) log.info({ applied }, 'migrations applied');
    const { released } = await nodeRegister(sql, { id: config.nodeId, host: hostname(), pid: process.pid, version: VERSION, leaseMs: cfg.leaseMs });
    if (released) log.info({ released }, 'handed back runs claimed by an earlier process with this node id');
    auth = await setupAuth(sql, config.host, authConfig, log);
    webhookSecrets = webhookConfig.secrets;
    if (!webhookSecrets.length) {
      // one secret for the whole cluster: the first node to start stores it, the others read it
      const s = await settingGetOrCreate(sql, 'webhook_signing_secret', `whsec_${randomBytes(32).toString('base64url')}`);
      if (s.created) log.info('generated the webhook signing secret (GET /api/webhooks/signing-secrets shows it; SUNDIAL_WEBHOOK_SECRETS chooses one)');
      webhookSecrets = [s.value];
    }
  } catch (err) {
    await sql.end({ timeout: 1 });
    await embedded?.stop();
    throw err;
  }

  const recorder = new Recorder(sql, config.nodeId, metrics, log, (count) => {
    if (count) hub.publish({ type: 'runs', nodeId: config.nodeId, count });
  });
  const deliverer = new WebhookDeliverer(sql, config.nodeId, clock, recorder, metrics, log, {
    secrets: webhookSecrets,
    allow,
    retryBaseMs: webhookConfig.retryBaseMs,
    retryMaxMs: webhookConfig.retryMaxMs,
    concurrency: webhookConfig.concurrency,
    userAgent: `Sundial/${VERSION}`,
  });
  const executor = new Executor(clock, recorder, metrics, log, cfg.misfireThresholdMs, deliverer);
  const claimer = new Claimer(sql, config.nodeId, cfg, clock, executor, recorder, metrics, log, (count) =>
    hub.publish({ type: 'runs', nodeId: config.nodeId, count }),
  );
  const heartbeat = new Heartbeat(sql, config.nodeId, cfg.heartbeatMs, cfg.leaseMs, log);
  const housekeeper = new Housekeeper(sql, config.nodeId, cfg.runRetentionDays, log);

  const notices = new NoticeListener({ sql, log });
  notices.subscribe('wake', () => claimer.wake());
  notices.subscribe('task', (n) => {
    // Held occurrences are dropped only when the change cancelled them in the database;
    // an edit that leaves them pending (a new name, payload or action) still fires them.
    if (n.cancelled) executor.forgetTask(n.id);
    if (n.wake) claimer.wake();
    hub.publish({ type: 'tasks', taskId: n.id, change: n.change });
  });
  notices.subscribe('runs', (n) => {
    if (n.node !== config.nodeId && n.count > 0) hub.publish({ type: 'runs', nodeId: n.node, count: n.count });
  });
  await notices.start();

  heartbeat.start();
  executor.start();
  claimer.start();
  housekeeper.start();

  const http = await buildHttp({
    sql,
    clock,
    nodeId: config.nodeId,
    version: VERSION,
    lookaheadMs: cfg.lookaheadMs,
    hub,
    metrics,
    logger: log,
    auth,
    webhookAllow: allow,
    webhookSecrets,
    readiness: async () => {
      try {
        await Promise.race([dbPing(sql), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000).unref())]);
        const pending = await pendingMigrations(sql);
        return pending ? `${pending} migrations not applied` : null;
      } catch (err) {
        return `database unreachable: ${(err as Error).message}`;
      }
    },
    collectMetrics: async () => {
      metrics.inFlight.set(executor.inFlight);
      metrics.dueBacklog.set(await tasksDueBacklog(sql, clock.now()));
    },
  });
  const address = await http.listen({ port: config.port, host: config.host });
  log.info({ url: address, nodeId: config.nodeId, version: VERSION }, 'sundial node started');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const t0 = Date.now();
      // 1. stop taking requests, finish those in flight
      await http.close();
      // 2. stop claiming; hand back what is held but not fired so others fire it on time
      await claimer.stop();
      const unfired = executor.stop();
      // webhook attempts in flight get a moment to finish; the rest are handed back
      const handedBack = await deliverer.stop();
      await recorder.flushed();
      recorder.stop();
      const released = await runsRelease(sql, config.nodeId).catch((err) => {
        log.warn({ err: (err as Error).message }, 'could not hand back runs; they will be rescued when the lease lapses');
        return 0;
      });
      // 3. leave the cluster
      await housekeeper.stop();
      await heartbeat.stop();
      await nodeStop(sql, config.nodeId).catch(() => {});
      await notices.stop();
      await sql.end({ timeout: 2 });
      await embedded?.stop();
      log.info({ held: unfired.length, released, webhooksHandedBack: handedBack, ms: Date.now() - t0 }, 'sundial node stopped');
    })());

  return { config, http, sql, log, url: address, stop };
}
