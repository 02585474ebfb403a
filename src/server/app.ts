// The one place that wires the services, in order; stop() undoes it in reverse.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { defaultAuthConfig, defaultWebhookConfig, parseOriginRates, type Config } from './config.js';
import { setupAuth } from './api/auth.js';
import { buildHttp } from './api/server.js';
import { BatchThreads } from './api/batch-thread.js';
import { BATCH_THREADS, BATCH_WRITES } from './api/tasks.js';
import { EventHub } from './events.js';
import { createMetrics } from './metrics.js';
import { Claimer } from './scheduler/claimer.js';
import { Executor } from './scheduler/executor.js';
import { Heartbeat } from './scheduler/heartbeat.js';
import { Housekeeper } from './scheduler/housekeeper.js';
import { Recorder } from './scheduler/recorder.js';
import { InFlight, type Service } from './scheduler/service.js';
import { connect, type Sql } from './store/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './store/embedded-postgres.js';
import { migrate, pendingMigrations } from './store/migrate.js';
import { databasePing, nodeRegister, nodeStop } from './store/nodes.js';
import { runsRelease } from './store/runs.js';
import { settingGetOrCreate } from './store/credentials.js';
import { NoticeListener } from './store/notices.js';
import { tasksDueCount } from './store/tasks.js';
import { OffsetClock, systemClock, type Clock, type Timer } from './time/clock.js';
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

export interface StartOptions {
  /** the node's own clock (default: the system's) */
  clock?: Clock;
  /** fire by that clock corrected by its offset to PostgreSQL's (default: on, unless a clock is given) */
  correctClock?: boolean;
  logger?: Logger;
}

export async function startApp(config: Config, opts: StartOptions = {}): Promise<App> {
  // synchronous: the last lines before process.exit (the drain summary) must not be lost
  const log = opts.logger ?? pino({ level: config.logLevel, base: { node: config.nodeId } }, pino.destination({ dest: 1, sync: true }));
  const baseClock = opts.clock ?? systemClock;
  // The node fires by PostgreSQL's clock: its own corrected by the offset measured at
  // heartbeats. A test's own clock is left as it is.
  const correctClock = opts.correctClock ?? !opts.clock;
  const clock = new OffsetClock(baseClock);
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
  // Claims, results and heartbeats have connections of their own: a bulk import filling
  // the API's pool must not make what is due wait for a connection.
  const engineSql = connect({
    url: databaseUrl,
    max: 6,
    applicationName: `sundial:${config.nodeId}:engine`,
    idleInTransactionTimeoutMs: cfg.leaseMs,
    // claims scan the due index; a plan cached while the table was empty would not
    customPlans: true,
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
    await engineSql.end({ timeout: 1 });
    await embedded?.stop();
    throw err;
  }

  const inFlight = new InFlight();
  const notices = new NoticeListener({ sql, log });
  const publishRuns = (count: number) => {
    if (count) hub.publish({ type: 'runs', nodeId: config.nodeId, count });
  };
  const recorder = new Recorder({ sql: engineSql, nodeId: config.nodeId, clock, inFlight, metrics, log, drainMs: cfg.drainMs, onRecorded: publishRuns,
    onFenced: () => claimer?.requestReconcile(), holdWhile: (): boolean => deliverer.waiting > 0 });
  const deliverer: WebhookDeliverer = new WebhookDeliverer(engineSql, config.nodeId, clock, recorder, metrics, log, {
    secrets: webhookSecrets,
    allow,
    retryBaseMs: webhookConfig.retryBaseMs,
    retryMaxMs: webhookConfig.retryMaxMs,
    concurrency: webhookConfig.concurrency,
    perOrigin: Math.min(webhookConfig.concurrency, webhookConfig.originConcurrency),
    rateLimits: parseOriginRates(webhookConfig.originRates),
    circuitTripAfter: webhookConfig.circuitTripAfter,
    circuitOpenMs: webhookConfig.circuitOpenMs,
    userAgent: `Sundial/${VERSION}`,
    inFlight,
    notices,
    snapshotMs: cfg.heartbeatMs,
  });
  // heartbeat and executor need each other (the gate, the held count): the executor is
  // read through a closure only once both exist
  let executor: Executor | undefined;
  let claimer: Claimer | undefined;
  const heartbeat = new Heartbeat({
    sql: engineSql,
    nodeId: config.nodeId,
    clock: baseClock,
    heartbeatMs: cfg.heartbeatMs,
    leaseMs: cfg.leaseMs,
    metrics,
    log,
    held: () => executor?.held ?? 0,
    onOffset: (offsetMs) => {
      if (correctClock) clock.offsetMs = offsetMs;
    },
    onLeaseLapsed: async () => void (await claimer?.dropLost()),
    onRecovered: () => claimer?.requestReconcile(),
  });
  executor = new Executor({
    clock,
    recorder,
    inFlight,
    metrics,
    log,
    misfireThresholdMs: cfg.misfireThresholdMs,
    notices,
    webhooks: deliverer,
    gate: heartbeat,
  });
  claimer = new Claimer({
    sql: engineSql,
    nodeId: config.nodeId,
    config: cfg,
    clock,
    executor,
    inFlight,
    metrics,
    log,
    notices,
    lease: heartbeat,
    onClaimed: publishRuns,
  });
  const housekeeper = new Housekeeper({ sql, nodeId: config.nodeId, clock, retentionDays: cfg.runRetentionDays, log });
  notices.subscribe('task', (n) => hub.publish({ type: 'tasks', taskId: n.id, change: n.change }));
  notices.subscribe('runs', (n) => {
    if (n.node !== config.nodeId && n.count > 0) hub.publish({ type: 'runs', nodeId: n.node, count: n.count });
  });

  // Start in dependency order; stop() goes in reverse.
  const services: Service[] = [notices, heartbeat, recorder, deliverer, executor, claimer, housekeeper];
  for (const s of services) await s.start();

  // POST /api/tasks/batch runs in threads of its own, at a lower CPU priority, with
  // PostgreSQL pools of their own (api/batch-thread.ts)
  const batches = new BatchThreads(
    {
      databaseUrl,
      connections: BATCH_WRITES,
      applicationName: `sundial:${config.nodeId}:bulk`,
      idleInTransactionTimeoutMs: cfg.leaseMs,
      lookaheadMs: cfg.lookaheadMs,
      webhookAllow: webhookConfig.allow,
    },
    log,
    BATCH_THREADS,
  );
  const http = await buildHttp({
    sql,
    batches,
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
    createClaim: claimer,
    firingLate: () => executor?.firedLate() ?? false,
    timerLateness: () => executor?.timerLateness() ?? { wakes: 0, late: 0 },
    readiness: async () => {
      let timer: Timer | undefined;
      try {
        await Promise.race([databasePing(sql), new Promise((_, rej) => (timer = baseClock.setTimer(() => rej(new Error('timeout')), 2000)))]);
        const pending = await pendingMigrations(sql);
        return pending ? `${pending} migrations not applied` : null;
      } catch (err) {
        return `database unreachable: ${(err as Error).message}`;
      } finally {
        timer?.cancel();
      }
    },
    collectMetrics: async () => {
      metrics.inFlight.set(inFlight.count);
      metrics.heldBytes.set(inFlight.bytes);
      metrics.heldOccurrences.set(executor.held);
      // a bounded label set: the 10 busiest origins by name, the rest as "other"
      const origins = deliverer.snapshot();
      for (const g of [metrics.webhookOriginQueued, metrics.webhookOriginInFlight, metrics.webhookOriginCircuitOpen]) g.reset();
      origins.forEach((o, i) => {
        const label = i < 10 ? o.origin : 'other';
        metrics.webhookOriginQueued.inc({ origin: label }, o.queued);
        metrics.webhookOriginInFlight.inc({ origin: label }, o.inFlight);
        metrics.webhookOriginCircuitOpen.inc({ origin: label }, o.circuit === 'closed' ? 0 : 1);
      });
      metrics.dueBacklog.set(await tasksDueCount(sql, clock.now()));
    },
  });
  const address = await http.listen({ port: config.port, host: config.host });
  log.info({ url: address, nodeId: config.nodeId, version: VERSION }, 'sundial node started');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const t0 = baseClock.monotonicMs();
      // 1. stop taking requests, finish those in flight
      await http.close();
      await batches.stop();
      // 2. stop claiming and firing; webhook attempts in flight get a moment to finish;
      //    results are written (for at most drainMs); what is held but not fired is
      //    handed back so others fire it on time
      await housekeeper.stop();
      await claimer.stop();
      await executor!.stop();
      await deliverer.stop();
      await recorder.stop();
      const released = await runsRelease(sql, config.nodeId).catch((err) => {
        log.warn({ err: (err as Error).message }, 'could not hand back runs; they will be rescued when the lease lapses');
        return 0;
      });
      // 3. leave the cluster
      await heartbeat.stop();
      await nodeStop(sql, config.nodeId).catch(() => {});
      await notices.stop();
      await sql.end({ timeout: 2 });
      await engineSql.end({ timeout: 2 });
      await embedded?.stop();
      log.info({ held: executor!.unfiredAtStop, released, webhooksHandedBack: deliverer.handedBack, ms: Math.round(baseClock.monotonicMs() - t0) }, 'sundial node stopped');
    })());

  return { config, http, sql, log, url: address, stop };
}
