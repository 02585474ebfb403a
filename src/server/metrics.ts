import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per node instance (tests run several in one process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sundial_process_' });
  return {
    registry,
    fireLag: new Histogram({
      name: 'sundial_fire_lag_seconds',
      help: 'Time from an occurrence\'s scheduled instant to the start of its execution; negative when it started early (a clock ahead of the database\'s)',
      buckets: [-1, -0.1, -0.01, -0.001, 0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    runs: new Counter({
      name: 'sundial_runs_total',
      help: 'Runs recorded by this node, by final status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    fenced: new Counter({
      name: 'sundial_results_fenced_total',
      help: 'Results this node tried to record for runs it no longer owned (lease lost, task deleted or edited)',
      registers: [registry],
    }),
    claimBatch: new Histogram({
      name: 'sundial_claim_batch_size',
      help: 'Occurrences claimed per claim transaction',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers: [registry],
    }),
    recordBatch: new Histogram({
      name: 'sundial_record_batch_size',
      help: 'Results written per completion statement',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'sundial_in_flight',
      help: 'Occurrences this node has claimed and not yet recorded',
      registers: [registry],
    }),
    webhookAttempts: new Counter({
      name: 'sundial_webhook_attempts_total',
      help: 'Webhook HTTP attempts by outcome: ok (2xx), retryable (network error, timeout, 408, 429, 5xx), refused (other status, SSRF guard, redirects)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhookDuration: new Histogram({
      name: 'sundial_webhook_attempt_seconds',
      help: 'Duration of webhook HTTP attempts',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    webhookCircuitChanges: new Counter({
      name: 'sundial_webhook_circuit_changes_total',
      help: 'Per-origin circuit breaker transitions on this node, by the state entered',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    webhookOriginQueued: new Gauge({
      name: 'sundial_webhook_origin_queued',
      help: 'Webhook attempts waiting for a slot on this node, by origin (the 10 busiest; the rest summed as "other")',
      labelNames: ['origin'] as const,
      registers: [registry],
    }),
    webhookOriginInFlight: new Gauge({
      name: 'sundial_webhook_origin_in_flight',
      help: 'Webhook attempts in flight on this node, by origin (the 10 busiest; the rest summed as "other")',
      labelNames: ['origin'] as const,
      registers: [registry],
    }),
    webhookOriginCircuitOpen: new Gauge({
      name: 'sundial_webhook_origin_circuit_open',
      help: '1 while an origin\'s circuit is open or half-open on this node (the 10 busiest origins; "other": how many of the rest)',
      labelNames: ['origin'] as const,
      registers: [registry],
    }),
    clockOffset: new Gauge({
      name: 'sundial_clock_offset_seconds',
      help: 'PostgreSQL\'s clock minus this node\'s, measured at heartbeats (the node fires by the corrected time)',
      registers: [registry],
    }),
    clockUncertainty: new Gauge({
      name: 'sundial_clock_offset_uncertainty_seconds',
      help: 'Half the round trip of the heartbeat the offset was measured on: the most the correction can be off by',
      registers: [registry],
    }),
    heldOccurrences: new Gauge({
      name: 'sundial_held_occurrences',
      help: 'Occurrences claimed ahead and held in memory until their instant',
      registers: [registry],
    }),
    heldBytes: new Gauge({
      name: 'sundial_in_flight_bytes',
      help: 'Approximate memory of what this node has claimed and not yet recorded',
      registers: [registry],
    }),
    dueBacklog: new Gauge({
      name: 'sundial_due_backlog',
      help: 'Tasks already due and not yet claimed (capped at 100000)',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
