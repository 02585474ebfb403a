import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import helmet from 'helmet';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { LIMITS, type ServerEvent } from '../../shared/schemas.js';
import { ApiError, ERRORS } from '../errors.js';
import type { EventHub } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { CreateClaimTerms } from '../scheduler/claimer.js';
import type { BatchThreads } from './batch-thread.js';
import type { Sql, Tx } from '../store/db.js';
import type { ClaimedRun } from '../store/runs.js';
import type { Clock } from '../time/clock.js';
import type { AllowList } from '../webhooks/ssrf.js';
import { rateLimitKey, registerAuth, type AuthSetup } from './auth.js';
import { assertUsableInput } from './input-guard.js';
import { RateLimiter, registerRateLimit } from './rate-limit.js';
import { runRoutes } from './runs.js';
import { taskRoutes } from './tasks.js';
import { upcomingRoutes } from './upcoming.js';
import { webhookRoutes } from './webhooks.js';
import { validationToApiError, validatorCompiler } from './validation.js';

export interface ApiDeps {
  sql: Sql;
  /** where POST /api/tasks/batch runs (api/batch-thread.ts) */
  batches: Pick<BatchThreads, 'run'>;
  clock: Clock;
  nodeId: string;
  version: string;
  lookaheadMs: number;
  hub: EventHub;
  metrics: Metrics;
  /** null when ready, else the reason */
  readiness: () => Promise<string | null>;
  /** refresh gauges that are read from the database */
  collectMetrics: () => Promise<void>;
  logger: Logger | boolean;
  webRoot?: string;
  /** default: open, answering localhost only (a node on loopback without a token) */
  auth?: AuthSetup;
  /** the SSRF guard's allow-list, for the early check of webhook URLs */
  webhookAllow?: AllowList;
  /** active webhook signing secrets, shown to admins */
  webhookSecrets?: readonly string[];
  /** claims new tasks due soon in the creating transaction (the node's claimer); none: the claimer finds them */
  createClaim?: CreateClaim;
  /** true while the node's timer fires late (scheduler/executor.ts firedLate): bulk writes then take turns */
  firingLate?: () => boolean;
  /** the node's timer wakes and late ones so far (executor.ts timerLateness): bulk writes are paced by them (bulk-pace.ts) */
  timerLateness?: () => { wakes: number; late: number };
}

/** What the API needs of the claimer to claim new tasks in their creating transaction (scheduler/claimer.ts). */
export interface CreateClaim {
  readonly createHorizonMs: number;
  claimCreated(tx: Tx, taskIds: string[]): Promise<ClaimedRun[]>;
  /** the same claim's terms as data, for a claim made in the batch thread */
  createClaimTerms(): CreateClaimTerms | null;
  holdCreated(runs: ClaimedRun[]): void;
  createFailed(): void;
}

const OPEN_ON_LOOPBACK: AuthSetup = { mode: 'open', loopbackOnly: true, metricsAuth: false, rateLimitPerMinute: 0 };

/**
 * The UI's Content-Security-Policy: scripts only from this origin (the built UI has no
 * inline script), no framing (clickjacking), no plugins, forms and base URL pinned.
 * Styles allow 'unsafe-inline': Mantine writes its CSS variables into a <style> element
 * at run time and components set style attributes; a style cannot run code.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/** Fastify error codes we answer with our own catalog entries. */
const FASTIFY_ERRORS: Record<string, [keyof typeof ERRORS, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['VALIDATION_FAILED', 'content-length does not match the body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['INVALID_JSON', 'the body is empty; send a JSON object'],
  FST_ERR_CTP_BODY_TOO_LARGE: ['BODY_TOO_LARGE', `the body is over ${LIMITS.bodyMaxBytes} bytes (${LIMITS.batchBodyMaxBytes} for POST /api/tasks/batch)`],
  FST_ERR_CTP_INVALID_JSON_BODY: ['INVALID_JSON', 'the body is not valid JSON'],
};

/** Builds the HTTP server without listening, so tests can call it with inject(). */
export async function buildHttp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // per-request logs at info would drown a busy node; warnings and errors still show
    loggerInstance: typeof deps.logger === 'object' ? deps.logger.child({}, { level: 'warn' }) : undefined,
    logger: typeof deps.logger === 'boolean' ? deps.logger : undefined,
    bodyLimit: LIMITS.bodyMaxBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: undefined,
    // A URL the router cannot decode (e.g. %ED%A0%80, a lone surrogate) is refused before
    // any hook runs; answer in our shape rather than Fastify's.
    frameworkErrors: (err: FastifyError, _req: unknown, reply: { code(n: number): { send(b: unknown): unknown } }) =>
      reply.code(400).send({
        error: { code: 'VALIDATION_FAILED', message: err.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid (bad percent-encoding)' : err.message, details: { field: 'url' } },
      }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  const auth = deps.auth ?? OPEN_ON_LOOPBACK;

  // Security headers on every answer: CSP, frame-ancestors 'none' (and X-Frame-Options
  // for old browsers), nosniff, no referrer across origins. HSTS is left to the TLS
  // proxy in front: over plain HTTP it means nothing, and a node cannot know its name.
  // The middleware is built once: building it per request (CSP parsed each time, as
  // @fastify/helmet does) was 7 % of the node's CPU per single create.
  const securityHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    strictTransportSecurity: false,
    crossOriginEmbedderPolicy: false,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.addHook('onRequest', (req, reply, done) => securityHeaders(req.raw, reply.raw, (err) => done(err as Error | undefined)));
  registerAuth(app, auth);
  if (auth.rateLimitPerMinute > 0) {
    // after the auth hook, so a token's requests are counted against the token
    registerRateLimit(app, new RateLimiter(auth.rateLimitPerMinute), rateLimitKey);
  }
  // Values PostgreSQL cannot store, or nesting that would blow a stack, are a 400 that
  // names the field, whatever the route.
  app.addHook('preValidation', (req, _reply, done) => {
    try {
      // a body left as bytes (POST /api/tasks/batch) is checked where it is parsed, in the batch thread
      assertUsableInput({ params: req.params, query: req.query, body: Buffer.isBuffer(req.body) ? undefined : req.body });
    } catch (err) {
      return done(err as Error);
    }
    done();
  });

  app.setErrorHandler((err: FastifyError & { validation?: unknown }, req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err.validation) e = validationToApiError(err.validation as never, err.validationContext ?? 'body');
    else if (err.code && FASTIFY_ERRORS[err.code]) {
      const [code, message] = FASTIFY_ERRORS[err.code]!;
      e = new ApiError(code, message);
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      e = new ApiError('VALIDATION_FAILED', err.message);
      return reply.code(err.statusCode).send({ error: { code: e.code, message: e.message } });
    } else if (isDataException(err)) {
      // a value the checks above let through and PostgreSQL still refused: the client's input
      req.log.warn({ err }, 'database refused a value');
      e = new ApiError('VALIDATION_FAILED', 'a value in the request cannot be stored');
    } else if (isDbUnavailable(err)) {
      e = new ApiError('DATABASE_UNAVAILABLE', 'the database is unavailable; retry shortly');
      reply.header('retry-after', '2');
    } else {
      req.log.error({ err }, 'unhandled error');
      e = new ApiError('INTERNAL', 'internal error');
    }
    // a 429 says when to come back (the rate limit, a batch paced past its wait)
    if (typeof e.details?.retryAfterSeconds === 'number') reply.header('retry-after', String(e.details.retryAfterSeconds));
    return reply.code(e.status).send({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    if (req.method === 'GET' && !path.startsWith('/api/') && webRoot && !/\.[a-z0-9]+$/i.test(path)) {
      // the web UI's client-side routes
      return reply.type('text/html').sendFile('index.html');
    }
    return reply.code(404).send({ error: { code: 'ROUTE_NOT_FOUND', message: `no route ${req.method} ${path}` } });
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sundial',
        version: deps.version,
        description: 'A distributed task scheduler: one-time and cron tasks, fired once each, on time.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'SUNDIAL_API_TOKEN (admin) or SUNDIAL_READ_TOKEN (read-only); see docs/security.md' },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs', uiConfig: { validatorUrl: null } as never });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => openApiDocument(app));

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok', nodeId: deps.nodeId }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const problem = await deps.readiness();
    return reply.code(problem ? 503 : 200).send(problem ? { status: 'not ready', reason: problem } : { status: 'ready', nodeId: deps.nodeId });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    await deps.collectMetrics().catch(() => {});
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  const streams = new Set<() => void>();
  app.get('/api/events', { schema: { summary: 'Server-Sent Events: change hints for live views', tags: ['events'] } }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ nodeId: deps.nodeId })}\n\n`);
    const send = (e: ServerEvent) => {
      const { type, ...data } = e;
      res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const unsubscribe = deps.hub.subscribe(send);
    const ping = setInterval(() => res.write('event: ping\ndata: {}\n\n'), 15_000);
    const close = () => {
      clearInterval(ping);
      unsubscribe();
      streams.delete(close);
      res.end();
    };
    streams.add(close);
    req.raw.on('close', close);
  });
  app.addHook('preClose', async () => {
    for (const close of [...streams]) close();
  });

  taskRoutes(app, deps);
  runRoutes(app, deps);
  upcomingRoutes(app, deps);
  webhookRoutes(app, deps);

  const webRoot = deps.webRoot ?? (existsSync(DEFAULT_WEB_ROOT + 'index.html') ? DEFAULT_WEB_ROOT : undefined);
  if (webRoot) {
    await app.register(fastifyStatic, { root: webRoot, wildcard: false, index: 'index.html' });
  } else {
    app.get('/', { schema: { hide: true } }, (_req, reply) =>
      reply.type('text/html').send('<!doctype html><title>Sundial</title><p>The web UI is not built. Run <code>npm run build</code>. The API is at <a href="/api/docs">/api/docs</a>.</p>'),
    );
  }
  return app;
}

/** SQLSTATE class 22 (data exception: bad encoding, out-of-range value) and 54 (limits). */
function isDataException(err: { code?: string; severity?: string }): boolean {
  return typeof err.code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(err.code) && !!err.severity;
}

function isDbUnavailable(err: { code?: string; errno?: string }): boolean {
  const code = err.code ?? err.errno ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P03', '08006', '08001', '25006'].includes(code);
}

/**
 * The OpenAPI document. Fastify names a wildcard parameter "*"; the document calls it
 * {key} (the by-key routes), a name clients can bind.
 */
export function openApiDocument(app: FastifyInstance): Record<string, unknown> {
  const doc = structuredClone(app.swagger()) as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> };
  for (const path of Object.keys(doc.paths)) {
    if (!path.includes('{*}')) continue;
    const item = doc.paths[path]!;
    for (const op of Object.values(item)) for (const p of op.parameters ?? []) if (p.in === 'path' && p.name === '*') p.name = 'key';
    doc.paths[path.replace('{*}', '{key}')] = item;
    delete doc.paths[path];
  }
  return doc;
}
