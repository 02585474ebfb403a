import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllowList } from './webhooks/ssrf.js';

export interface SchedulerConfig {
  /** how often a node looks for due work when no NOTIFY woke it */
  pollIntervalMs: number;
  /** everything due this soon is claimed at once by whichever node looks first */
  lookaheadMs: number;
  /**
   * Claim-ahead horizon: occurrences due within it are claimed early (each node its fair
   * share) and held in memory, so they fire on time while the database is away. It must
   * outlast a failover: Patroni's leader TTL is at least 20 s and a promotion measured
   * 19.4 s here; managed services take 30-120 s and want a longer one. 0: lookahead only.
   */
  claimAheadMs: number;
  /** rows per claim transaction (five times this for work beyond the lookahead) */
  claimBatchSize: number;
  /** claimed-but-unrecorded occurrences a node may hold; the claimer waits above it */
  maxInFlight: number;
  /** the same cap in approximate bytes (large payloads held ahead cannot exhaust memory) */
  maxInFlightBytes: number;
  /** a graceful stop waits this long for results to be written before leaving them to the rescue */
  drainMs: number;
  /** a node's claims are its own while its lease lasts; heartbeats renew it */
  leaseMs: number;
  heartbeatMs: number;
  /** an occurrence that cannot start within this of its time is a misfire */
  misfireThresholdMs: number;
  /** completed runs older than this are pruned by the housekeeping leader */
  runRetentionDays: number;
}

export interface AuthConfig {
  /** admin tokens: full access (SUNDIAL_API_TOKEN, comma-separated) */
  apiTokens: string[];
  /** read-only tokens: GET/HEAD only (SUNDIAL_READ_TOKEN, comma-separated) */
  readTokens: string[];
  /** listen on a non-loopback address without any token (--insecure-no-auth) */
  insecureNoAuth: boolean;
  /** require a token on /metrics too */
  metricsAuth: boolean;
  /**
   * tasks per minute per token (per client address when the API is open), a request
   * counting 1 and a batch its tasks; 0 = off; unset: DEFAULT_RATE_LIMIT_PER_MINUTE, or
   * off on an open loopback node (only this machine can call it)
   */
  rateLimitPerMinute?: number;
}

export interface WebhookConfig {
  /** signing secrets, the first signs; empty: one is generated and kept in PostgreSQL */
  secrets: string[];
  /** SUNDIAL_WEBHOOK_ALLOW: CIDR ranges and host names the SSRF guard lets through */
  allow: string;
  /** first retry after about this long, doubling each time (with jitter) */
  retryBaseMs: number;
  retryMaxMs: number;
  /** HTTP requests in flight per node; more wait their turn */
  concurrency: number;
  /** HTTP requests in flight per node to one origin (scheme://host:port) */
  originConcurrency: number;
  /** SUNDIAL_WEBHOOK_ORIGIN_RATES: requests a second per origin, "https://a.example=50,http://10.0.0.5:8080=5" */
  originRates: string;
  /** unreachable attempts in a row that open an origin's circuit (default 5), and its first open period (5 s) */
  circuitTripAfter?: number;
  circuitOpenMs?: number;
}

/**
 * The default per-token budget, in tasks a minute: what one node sustains, so one
 * backend may use a whole node and no more. Measured with `npm run bench:bulk` on the
 * 2-core development machine (docs/api.md): batches of 1,000 through the API loaded
 * 1,000,000 tasks at 35,901 a second (median of two rounds), about 2,150,000 a minute.
 */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 2_150_000;

export const defaultAuthConfig: AuthConfig = {
  apiTokens: [],
  readTokens: [],
  insecureNoAuth: false,
  metricsAuth: false,
};

export const defaultWebhookConfig: WebhookConfig = {
  secrets: [],
  allow: '',
  retryBaseMs: 1000,
  retryMaxMs: 60_000,
  concurrency: 256,
  originConcurrency: 64,
  originRates: '',
};

/** Parses SUNDIAL_WEBHOOK_ORIGIN_RATES into origin → requests a second. */
export function parseOriginRates(spec: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const eq = entry.lastIndexOf('=');
    const rate = Number(entry.slice(eq + 1));
    let origin: string;
    try {
      origin = new URL(entry.slice(0, eq)).origin;
    } catch {
      throw new Error(`"${entry}": expected <origin>=<requests a second>, e.g. https://hooks.example=50`);
    }
    if (eq < 0 || !(rate > 0) || origin === 'null') throw new Error(`"${entry}": expected <origin>=<requests a second>, e.g. https://hooks.example=50`);
    out.set(origin, rate);
  }
  return out;
}

export interface Config {
  port: number;
  host: string;
  /** unset: start embedded PostgreSQL under dataDir */
  databaseUrl?: string;
  nodeId: string;
  dataDir: string;
  logLevel: string;
  scheduler: SchedulerConfig;
  /** optional so embedding callers (tests) may leave them out; defaults above */
  auth?: Partial<AuthConfig>;
  webhooks?: Partial<WebhookConfig>;
}

export const defaultSchedulerConfig: SchedulerConfig = {
  pollIntervalMs: 500,
  lookaheadMs: 2000,
  claimAheadMs: 45_000,
  claimBatchSize: 1000,
  maxInFlight: 100_000,
  maxInFlightBytes: 128 * 1024 * 1024,
  drainMs: 5000,
  leaseMs: 5000,
  heartbeatMs: 1000,
  misfireThresholdMs: 10_000,
  runRetentionDays: 30,
};

export class ConfigError extends Error {}

function int(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

export const USAGE = `Usage: sundial serve [options]
       sundial tasks add|list|get|rm|import …   sundial runs …   (--help on each; docs/api.md)

Options (each also read from the environment variable shown):
  --port <n>            PORT               HTTP port (default 8080)
  --host <addr>         HOST               listen address (default 127.0.0.1)
  --database-url <url>  DATABASE_URL       PostgreSQL >= 14; unset: embedded PostgreSQL
  --node-id <id>        SUNDIAL_NODE_ID    unique per node (default <hostname>-<pid>)
  --data-dir <dir>      SUNDIAL_DATA_DIR   embedded PostgreSQL data (default ./data)
  --log-level <level>   LOG_LEVEL          fatal|error|warn|info|debug (default info)

Tuning (environment only): SUNDIAL_POLL_INTERVAL_MS (500), SUNDIAL_LOOKAHEAD_MS (2000),
SUNDIAL_CLAIM_BATCH_SIZE (1000), SUNDIAL_MAX_IN_FLIGHT (100000), SUNDIAL_MAX_IN_FLIGHT_BYTES (134217728),
SUNDIAL_CLAIM_AHEAD_MS (45000: held occurrences fire on time through a database failover this long),
SUNDIAL_LEASE_MS (5000), SUNDIAL_HEARTBEAT_MS (1000), SUNDIAL_RUN_RETENTION_DAYS (30)

Security (docs/security.md):
  --insecure-no-auth    SUNDIAL_INSECURE_NO_AUTH=true  no token on a non-loopback address
  SUNDIAL_API_TOKEN       admin token(s), comma-separated, >= 16 characters each
  SUNDIAL_READ_TOKEN      read-only token(s) for dashboards
  SUNDIAL_METRICS_AUTH    true: /metrics needs a token too
  SUNDIAL_RATE_LIMIT_PER_MINUTE  tasks a minute per token or client address, a batch
                          counting its tasks (2150000, what one node sustains; 0 = off;
                          unset on an open loopback node: off)
  With no token set, a node on loopback is open; on any other address it generates an
  admin token on first start, prints it once and requires it.

Webhooks (docs/webhooks.md):
  SUNDIAL_WEBHOOK_SECRETS   signing secrets "new,old" (unset: generated, kept in PostgreSQL)
  SUNDIAL_WEBHOOK_ALLOW     CIDR ranges / host names the SSRF guard lets through
  SUNDIAL_WEBHOOK_RETRY_BASE_MS (1000), SUNDIAL_WEBHOOK_RETRY_MAX_MS (60000),
  SUNDIAL_WEBHOOK_CONCURRENCY (256), SUNDIAL_WEBHOOK_ORIGIN_CONCURRENCY (64: per origin)
  SUNDIAL_WEBHOOK_ORIGIN_RATES  requests a second per origin, "https://a.example=50,..."
`;

function list(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function bool(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === '') return false;
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function secretList(name: string, raw: string | undefined): string[] {
  const values = list(raw);
  for (const v of values) {
    // a short secret can be guessed offline from one signed request, a short token online
    if (v.length < 16) throw new ConfigError(`${name}: each value must be at least 16 characters`);
  }
  return values;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'database-url': { type: 'string' },
      'node-id': { type: 'string' },
      'data-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'insecure-no-auth': { type: 'boolean' },
    },
  });
  const port = int('--port/PORT', values.port ?? env.PORT, 8080, 0);
  if (port > 65535) throw new ConfigError(`--port/PORT must be <= 65535, got ${port}`);
  const scheduler: SchedulerConfig = {
    pollIntervalMs: int('SUNDIAL_POLL_INTERVAL_MS', env.SUNDIAL_POLL_INTERVAL_MS, defaultSchedulerConfig.pollIntervalMs),
    lookaheadMs: int('SUNDIAL_LOOKAHEAD_MS', env.SUNDIAL_LOOKAHEAD_MS, defaultSchedulerConfig.lookaheadMs, 0),
    claimAheadMs: int('SUNDIAL_CLAIM_AHEAD_MS', env.SUNDIAL_CLAIM_AHEAD_MS, defaultSchedulerConfig.claimAheadMs, 0),
    claimBatchSize: int('SUNDIAL_CLAIM_BATCH_SIZE', env.SUNDIAL_CLAIM_BATCH_SIZE, defaultSchedulerConfig.claimBatchSize),
    maxInFlight: int('SUNDIAL_MAX_IN_FLIGHT', env.SUNDIAL_MAX_IN_FLIGHT, defaultSchedulerConfig.maxInFlight),
    maxInFlightBytes: int('SUNDIAL_MAX_IN_FLIGHT_BYTES', env.SUNDIAL_MAX_IN_FLIGHT_BYTES, defaultSchedulerConfig.maxInFlightBytes),
    drainMs: int('SUNDIAL_DRAIN_MS', env.SUNDIAL_DRAIN_MS, defaultSchedulerConfig.drainMs, 0),
    leaseMs: int('SUNDIAL_LEASE_MS', env.SUNDIAL_LEASE_MS, defaultSchedulerConfig.leaseMs),
    heartbeatMs: int('SUNDIAL_HEARTBEAT_MS', env.SUNDIAL_HEARTBEAT_MS, defaultSchedulerConfig.heartbeatMs),
    misfireThresholdMs: defaultSchedulerConfig.misfireThresholdMs,
    runRetentionDays: int('SUNDIAL_RUN_RETENTION_DAYS', env.SUNDIAL_RUN_RETENTION_DAYS, defaultSchedulerConfig.runRetentionDays),
  };
  if (scheduler.heartbeatMs * 2 > scheduler.leaseMs) {
    throw new ConfigError('SUNDIAL_LEASE_MS must be at least twice SUNDIAL_HEARTBEAT_MS');
  }
  const auth: AuthConfig = {
    apiTokens: secretList('SUNDIAL_API_TOKEN', env.SUNDIAL_API_TOKEN),
    readTokens: secretList('SUNDIAL_READ_TOKEN', env.SUNDIAL_READ_TOKEN),
    insecureNoAuth: values['insecure-no-auth'] ?? bool('SUNDIAL_INSECURE_NO_AUTH', env.SUNDIAL_INSECURE_NO_AUTH),
    metricsAuth: bool('SUNDIAL_METRICS_AUTH', env.SUNDIAL_METRICS_AUTH),
    ...(env.SUNDIAL_RATE_LIMIT_PER_MINUTE ? { rateLimitPerMinute: int('SUNDIAL_RATE_LIMIT_PER_MINUTE', env.SUNDIAL_RATE_LIMIT_PER_MINUTE, 0, 0) } : {}),
  };
  const webhooks: WebhookConfig = {
    secrets: secretList('SUNDIAL_WEBHOOK_SECRETS', env.SUNDIAL_WEBHOOK_SECRETS),
    allow: env.SUNDIAL_WEBHOOK_ALLOW ?? '',
    retryBaseMs: int('SUNDIAL_WEBHOOK_RETRY_BASE_MS', env.SUNDIAL_WEBHOOK_RETRY_BASE_MS, defaultWebhookConfig.retryBaseMs),
    retryMaxMs: int('SUNDIAL_WEBHOOK_RETRY_MAX_MS', env.SUNDIAL_WEBHOOK_RETRY_MAX_MS, defaultWebhookConfig.retryMaxMs),
    concurrency: int('SUNDIAL_WEBHOOK_CONCURRENCY', env.SUNDIAL_WEBHOOK_CONCURRENCY, defaultWebhookConfig.concurrency),
    originConcurrency: int('SUNDIAL_WEBHOOK_ORIGIN_CONCURRENCY', env.SUNDIAL_WEBHOOK_ORIGIN_CONCURRENCY, defaultWebhookConfig.originConcurrency),
    originRates: env.SUNDIAL_WEBHOOK_ORIGIN_RATES ?? '',
  };
  try {
    parseAllowList(webhooks.allow);
  } catch (err) {
    throw new ConfigError(`SUNDIAL_WEBHOOK_ALLOW: ${(err as Error).message}`);
  }
  try {
    parseOriginRates(webhooks.originRates);
  } catch (err) {
    throw new ConfigError(`SUNDIAL_WEBHOOK_ORIGIN_RATES: ${(err as Error).message}`);
  }
  return {
    port,
    host: values.host ?? env.HOST ?? '127.0.0.1',
    databaseUrl: values['database-url'] ?? (env.DATABASE_URL || undefined),
    nodeId: values['node-id'] ?? (env.SUNDIAL_NODE_ID || `${hostname()}-${process.pid}`),
    dataDir: resolve(values['data-dir'] ?? env.SUNDIAL_DATA_DIR ?? 'data'),
    logLevel: values['log-level'] ?? env.LOG_LEVEL ?? 'info',
    scheduler,
    auth,
    webhooks,
  };
}
