import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export interface SchedulerConfig {
  /** how often a node looks for due work when no NOTIFY woke it */
  pollIntervalMs: number;
  /** claim occurrences this far ahead and hold them on in-memory timers */
  lookaheadMs: number;
  /** rows per claim transaction */
  claimBatchSize: number;
  /** claimed-but-unrecorded occurrences a node may hold; the claimer waits above it */
  maxInFlight: number;
  /** a node's claims are its own while its lease lasts; heartbeats renew it */
  leaseMs: number;
  heartbeatMs: number;
  /** an occurrence that cannot start within this of its time is a misfire */
  misfireThresholdMs: number;
  /** completed runs older than this are pruned by the housekeeping leader */
  runRetentionDays: number;
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
}

export const defaultSchedulerConfig: SchedulerConfig = {
  pollIntervalMs: 500,
  lookaheadMs: 2000,
  claimBatchSize: 1000,
  maxInFlight: 50_000,
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

Options (each also read from the environment variable shown):
  --port <n>            PORT               HTTP port (default 8080)
  --host <addr>         HOST               listen address (default 127.0.0.1)
  --database-url <url>  DATABASE_URL       PostgreSQL >= 14; unset: embedded PostgreSQL
  --node-id <id>        SUNDIAL_NODE_ID    unique per node (default <hostname>-<pid>)
  --data-dir <dir>      SUNDIAL_DATA_DIR   embedded PostgreSQL data (default ./data)
  --log-level <level>   LOG_LEVEL          fatal|error|warn|info|debug (default info)

Tuning (environment only): SUNDIAL_POLL_INTERVAL_MS (500), SUNDIAL_LOOKAHEAD_MS (2000),
SUNDIAL_CLAIM_BATCH_SIZE (1000), SUNDIAL_MAX_IN_FLIGHT (50000), SUNDIAL_LEASE_MS (5000),
SUNDIAL_HEARTBEAT_MS (1000), SUNDIAL_RUN_RETENTION_DAYS (30)
`;

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
    },
  });
  const port = int('--port/PORT', values.port ?? env.PORT, 8080, 0);
  if (port > 65535) throw new ConfigError(`--port/PORT must be <= 65535, got ${port}`);
  const scheduler: SchedulerConfig = {
    pollIntervalMs: int('SUNDIAL_POLL_INTERVAL_MS', env.SUNDIAL_POLL_INTERVAL_MS, defaultSchedulerConfig.pollIntervalMs),
    lookaheadMs: int('SUNDIAL_LOOKAHEAD_MS', env.SUNDIAL_LOOKAHEAD_MS, defaultSchedulerConfig.lookaheadMs, 0),
    claimBatchSize: int('SUNDIAL_CLAIM_BATCH_SIZE', env.SUNDIAL_CLAIM_BATCH_SIZE, defaultSchedulerConfig.claimBatchSize),
    maxInFlight: int('SUNDIAL_MAX_IN_FLIGHT', env.SUNDIAL_MAX_IN_FLIGHT, defaultSchedulerConfig.maxInFlight),
    leaseMs: int('SUNDIAL_LEASE_MS', env.SUNDIAL_LEASE_MS, defaultSchedulerConfig.leaseMs),
    heartbeatMs: int('SUNDIAL_HEARTBEAT_MS', env.SUNDIAL_HEARTBEAT_MS, defaultSchedulerConfig.heartbeatMs),
    misfireThresholdMs: defaultSchedulerConfig.misfireThresholdMs,
    runRetentionDays: int('SUNDIAL_RUN_RETENTION_DAYS', env.SUNDIAL_RUN_RETENTION_DAYS, defaultSchedulerConfig.runRetentionDays),
  };
  if (scheduler.heartbeatMs * 2 > scheduler.leaseMs) {
    throw new ConfigError('SUNDIAL_LEASE_MS must be at least twice SUNDIAL_HEARTBEAT_MS');
  }
  return {
    port,
    host: values.host ?? env.HOST ?? '127.0.0.1',
    databaseUrl: values['database-url'] ?? (env.DATABASE_URL || undefined),
    nodeId: values['node-id'] ?? (env.SUNDIAL_NODE_ID || `${hostname()}-${process.pid}`),
    dataDir: resolve(values['data-dir'] ?? env.SUNDIAL_DATA_DIR ?? 'data'),
    logLevel: values['log-level'] ?? env.LOG_LEVEL ?? 'info',
    scheduler,
  };
}
