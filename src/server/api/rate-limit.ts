// Per-node request budget, counted in tasks: a request costs 1, a batch costs the
// number of tasks it carries, so a backend loading 1,000 tasks per request and one
// sending 1,000 requests draw on the same budget. (@fastify/rate-limit counts requests
// only; a weighted cost needs its own bucket.)
//
// A token bucket per key (token id, or client address without one): it holds up to one
// minute's budget and refills continuously. In memory, per node: a cluster of n nodes
// lets a client make n times this.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private sweptAt = 0;

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes `cost` from the key's bucket; returns 0, or the seconds to wait when it is short. */
  take(key: string, cost: number): number {
    const t = this.now();
    this.sweep(t);
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: t };
    b.tokens = Math.min(this.perMinute, b.tokens + (t - b.at) * this.perMs);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil((cost - b.tokens) / this.perMs / 1000));
  }

  remaining(key: string): number {
    return Math.floor(this.buckets.get(key)?.tokens ?? this.perMinute);
  }

  /** Full buckets are the default: forget them, once a minute, so the map stays small. */
  private sweep(t: number) {
    if (t - this.sweptAt < 60_000) return;
    this.sweptAt = t;
    for (const [k, b] of this.buckets) if (b.tokens + (t - b.at) * this.perMs >= this.perMinute) this.buckets.delete(k);
  }
}

export function limited(limiter: RateLimiter, wait: number): ApiError {
  return new ApiError(
    'RATE_LIMITED',
    `too many requests: at most ${limiter.perMinute} tasks a minute per token (or per address without one), a batch counting its tasks; retry in ${wait} s`,
    { retryAfterSeconds: wait, limitPerMinute: limiter.perMinute },
  );
}

declare module 'fastify' {
  interface FastifyRequest {
    /** charges extra cost (a batch's tasks beyond the first) against the caller's budget */
    chargeRateLimit?: (cost: number) => void;
  }
}

/**
 * Charges every /api request 1 before its body is read; routes call
 * req.chargeRateLimit(n) for the rest of their cost. Health checks, the UI's files,
 * the documentation and the event stream are not counted.
 */
export function registerRateLimit(app: FastifyInstance, limiter: RateLimiter, keyOf: (req: FastifyRequest) => string): void {
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?', 1)[0]!;
    if (!path.startsWith('/api/') || path === '/api/events' || path.startsWith('/api/docs') || path === '/api/openapi.json') return;
    const key = keyOf(req);
    const charge = (cost: number) => {
      const wait = limiter.take(key, cost);
      // Retry-After is set from the error's retryAfterSeconds (server.ts)
      if (wait) throw limited(limiter, wait);
      reply.header('ratelimit-limit', String(limiter.perMinute));
      reply.header('ratelimit-remaining', String(limiter.remaining(key)));
    };
    charge(1);
    req.chargeRateLimit = charge;
  });
}
