// Thousands of random and malformed requests to every endpoint (fast-check): wrong
// types, huge strings, odd Unicode (lone surrogates, NUL, RTL marks, combining marks),
// SQL fragments, bad cron expressions and time zones, bad JSON, wrong content types,
// wrong tokens. For every one: no 5xx, a JSON error body for every refusal, nothing
// stored by a refused request, and what a successful one stored comes back byte for byte.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Task } from '../../src/shared/schemas.js';
import { startTestApp, type TestApp } from '../support/app.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 4000);
const ADMIN = 'fuzz-admin-token-0123456789';
const READ = 'fuzz-read-token-0123456789';

let t: TestApp;
const knownIds: string[] = [];
beforeAll(async () => {
  t = await startTestApp({
    auth: { apiTokens: [ADMIN], readTokens: [READ], rateLimitPerMinute: 0 },
    // Tasks the fuzzer creates may be due: claims happen, but rarely, so most of the time
    // the only writer is the request under test. Webhooks go nowhere private (SSRF guard).
    scheduler: { pollIntervalMs: 5000, lookaheadMs: 0 },
    webhooks: { retryBaseMs: 50, retryMaxMs: 100 },
  });
});
afterAll(async () => {
  await t?.stop();
});

// ---- value generators ---------------------------------------------------------------------

const oddStrings = [
  '', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud83d', '\ud83dx', '\ufeff', '\u202eevil', 'e\u0301', 'ｆｕｌｌ',
  '𝕏𝕐', '👩‍👩‍👧‍👦', '\uffff', '\ufffe', '\u2028\u2029', '\t\r\n', '\\', '"', "'", '%', '_', '%_\\', '${x}', '{{x}}',
  "' OR '1'='1", "'; DROP TABLE tasks; --", '1; select pg_sleep(10)', '$$', "E'\\x00'", '\\x00', '/*', '*/', '--',
  '../../etc/passwd', '<script>alert(1)</script>', 'null', 'undefined', 'NaN', '__proto__', 'constructor',
];
const oddString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...oddStrings) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 150, max: 400_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...oddStrings), fc.string({ unit: 'binary', maxLength: 10 })).map(([a, b]) => a + b) },
);
const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  oddString,
);
/** undefined most of the time, `arb` one time in `n` */
const rare = <T>(arb: fc.Arbitrary<T>, n = 8) => fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
const maybe = <T>(arb: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown> = wrongType) =>
  fc.oneof({ weight: 6, arbitrary: arb as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: bad }, { weight: 1, arbitrary: fc.constant(undefined) });

const cronExpr = fc.oneof(
  fc.constantFrom('* * * * *', '*/5 * * * *', '0 9 * * 1-5', '* * * * * *', '@daily', '@hourly', '0 0 29 2 *'),
  fc.constantFrom('61 * * * *', '* * * * * * *', '@reboot', '0 0 31 2 *', '*/0 * * * *', 'L W #', '0-59/0 * * * *', '', ' ', '1,'.repeat(90) + '1 * * * *', '* * * * 8', '0 0 30 2 *'),
  oddString,
);
const timezone = fc.oneof(
  fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe'),
  fc.constantFrom('Mars/Olympus', 'UTC+25', 'Etc/GMT+99', '../../etc/passwd', 'Europe/Berlin\u0000', 'europe/berlin', 'Local', 'posixrules', '+05:30'),
  oddString,
);
const instant = fc.oneof(
  fc.integer({ min: -86_400_000, max: 86_400_000 * 400 }).map((ms) => new Date(Date.now() + ms).toISOString()),
  fc.date({ min: new Date('0001-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2030-12-31T23:59:60Z', '2030-02-30T00:00:00Z', '+275760-09-13T00:00:00.000Z', '2030-01-01T00:00:00', '2030-01-01', 'tomorrow', '2030-01-01T00:00:00+99:00', '0000-01-01T00:00:00Z'),
  oddString,
);
const schedule = fc.oneof(
  fc.record({ type: fc.constant('once'), at: instant }, { requiredKeys: ['type'] }),
  fc.record(
    { type: fc.constant('cron'), expression: cronExpr, timezone: maybe(timezone), startAt: maybe(instant), endAt: maybe(instant) },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.oneof(fc.constantFrom('weekly', 'ONCE', ''), oddString), at: instant, expression: cronExpr }, { requiredKeys: [] }),
  wrongType,
);
const url = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }).map((u) => u.replace(/^(https?:\/\/)/, '$1fuzz-').replace(/(\/\/[^/:?#]+)/, '$1.invalid')),
  fc.constantFrom('http://127.0.0.1/', 'http://169.254.169.254/latest/', 'http://[::1]:8080/', 'http://2130706433/', 'ftp://x.invalid/', 'file:///etc/passwd', 'javascript:alert(1)', 'http://user:pw@x.invalid/', '//x.invalid/', 'http://', 'http://x.invalid:99999/', 'https://hooks.invalid/' + 'a'.repeat(3000)),
  oddString,
);
const headers = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom('X-Team', 'Authorization', 'Content-Type', 'Host', 'Sundial-Attempt', 'transfer-encoding', 'X A', ''), fc.string({ maxLength: 30 })), maybe(fc.string({ maxLength: 60 }), oddString), { maxKeys: 25 }),
  wrongType,
);
const action = fc.oneof(
  fc.constant({ type: 'log' }),
  fc.record(
    {
      type: fc.constant('webhook'),
      url,
      method: maybe(fc.constantFrom('POST', 'PUT', 'PATCH', 'GET', 'DELETE'), fc.constantFrom('TRACE', 'CONNECT', 'post', '')),
      headers: maybe(headers),
      body: maybe(fc.jsonValue({ maxDepth: 3 })),
      timeoutMs: maybe(fc.integer({ min: 100, max: 60_000 }), fc.integer()),
      maxAttempts: maybe(fc.integer({ min: 1, max: 10 }), fc.integer()),
    },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.oneof(fc.constantFrom('email', 'shell', ''), oddString), url }, { requiredKeys: [] }),
  wrongType,
);
/** JSON nested around the depth limit (64); far deeper nesting is sent as raw text below */
const deep = fc.integer({ min: 55, max: 80 }).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)));
const deepRaw = fc.integer({ min: 100, max: 100_000 }).map(
  (n) => `{"name":"deep","schedule":{"type":"once","at":"${new Date(Date.now() + 3_600_000).toISOString()}"},"payload":${'['.repeat(n)}${']'.repeat(n)}}`,
);
const payload = fc.oneof({ weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) }, { weight: 1, arbitrary: deep }, { weight: 1, arbitrary: oddString }, { weight: 1, arbitrary: fc.dictionary(oddString, oddString, { maxKeys: 4 }) });
const name = fc.oneof({ weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }) }, { weight: 3, arbitrary: oddString }, { weight: 1, arbitrary: wrongType });

const taskBody = fc.record(
  {
    name,
    schedule,
    payload: maybe(payload),
    action: maybe(action),
    misfirePolicy: maybe(fc.constantFrom('fire_once', 'skip'), oddString),
    overlapPolicy: maybe(fc.constantFrom('allow', 'skip'), oddString),
    runImmediatelyIfPast: maybe(fc.boolean()),
    extra: rare(wrongType),
  },
  { requiredKeys: [] },
).map((b) => Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)));
/** Requests that should be accepted, carrying strings that are hard to store faithfully. */
const storable = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 200 })
  .filter((x) => x.isWellFormed() && !x.includes('\u0000') && x.trim().length > 0);
const validTask = fc.record({
  name: fc.oneof(storable, fc.constantFrom('e\u0301', '👩‍👩‍👧‍👦', '\u202eevil', '\ufeffbom', "' OR '1'='1", '%_\\', '\uffff\ufffe', 'ｆｕｌｌ')),
  schedule: fc.oneof(
    fc.integer({ min: 3_600_000, max: 86_400_000 * 300 }).map((ms) => ({ type: 'once', at: new Date(Date.now() + ms).toISOString() })),
    fc.constantFrom('0 0 1 1 *', '0 9 * * 1-5', '*/5 * * * *').map((expression) => ({ type: 'cron', expression, timezone: 'Asia/Kathmandu' })),
  ),
  payload: fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).includes('\\u0000')),
  action: fc.oneof(
    fc.constant({ type: 'log' }),
    fc.record({
      type: fc.constant('webhook'),
      url: fc.constantFrom('https://hooks.invalid/a?b=c&d=%E2%9C%93', 'http://fuzz.invalid:8443/x#frag', 'https://xn--bcher-kva.invalid/'),
      headers: fc.dictionary(fc.constantFrom('X-Team', 'Authorization', 'x-a', 'X-Weird_Name~'), fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).filter((v) => /^[\t\x20-\x7e]*$/.test(v)), { maxKeys: 3 }),
      body: fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 3 }).filter((v) => !JSON.stringify(v).includes('\\u0000'))),
    }).map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined))),
  ),
});
const patchBody = fc
  .record({ name, schedule, payload, action, misfirePolicy: oddString, overlapPolicy: fc.constantFrom('allow', 'skip', 'queue'), version: fc.oneof(fc.integer(), wrongType) }, { requiredKeys: [] })
  .map((b) => Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)));

const rawBody = fc.oneof(
  fc.constantFrom('{', '{"name":', '[1,2', 'null', '""', '0', 'true', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', '{"name":"a","name":"b"}', '\ufeff{}', '{"a":"\\ud800"}', '{"a":"\\u0000"}', "{'single':'quotes'}", '{"a":1e999}', '{"n":' + '9'.repeat(400) + '}'),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: 200_000, max: 600_000 }).map((n) => `{"name":"${'y'.repeat(n)}"}`),
  deepRaw,
);
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/json-patch+json', '', 'application/octet-stream') },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** encodeURIComponent, except that a lone surrogate becomes the bytes a sloppy client would send */
const enc = (s: string) => s.replace(/[\ud800-\udfff]/g, (c, i) => (/[\ud800-\udbff][\udc00-\udfff]/.test(s.slice(i, i + 2)) || /[\ud800-\udbff][\udc00-\udfff]/.test(s.slice(i - 1, i + 1)) ? c : '\u0001')).split('\u0001').map(encodeURIComponent).join('%ED%A0%80');

const id = fc.oneof(
  { weight: 4, arbitrary: fc.constant('KNOWN') },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: oddString.map((s) => enc(s.slice(0, 300))) },
  { weight: 1, arbitrary: fc.constantFrom('%00', '%ZZ', '..%2F..%2Fetc', '%E0%A4%A', '%ED%A0%80', "1'%20or%20'1'%3D'1") },
);
const queryValue = fc.oneof(
  fc.integer().map(String),
  fc.constantFrom('1e999', '-1', '0', '501', 'NaN', 'true', '', 'active', 'failed', 'cron', '2030-12-31T23:59:60Z', '2030-02-30T00:00:00Z', '0000-01-01T00:00:00Z'),
  instant,
  oddString.map((s) => s.slice(0, 500)),
);
const query = fc.dictionary(
  fc.oneof(fc.constantFrom('limit', 'cursor', 'state', 'kind', 'q', 'taskId', 'status', 'from', 'to', 'expression', 'timezone', 'count', 'startAt', 'endAt', 'access_token', 'keyPrefix', 'purge'), fc.string({ maxLength: 8 })),
  queryValue,
  { maxKeys: 5 },
);
const rawQuery = fc.oneof(
  { weight: 6, arbitrary: query.map((q) => new URLSearchParams(q as Record<string, string>).toString()) },
  { weight: 1, arbitrary: fc.constantFrom('%zz', 'a=%00', 'limit=1&limit=2', 'q=%ED%A0%80', 'expression=%E2%80%AE*+*+*+*+*', '&&&', '=x', 'cursor=' + 'A'.repeat(3000)) },
);

const taskKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('fz/a', 'fz/b/c', 'fz/u:1@x~y', 'fz/' + 'k'.repeat(196), 'fz/' + 'k'.repeat(198)) },
  { weight: 2, arbitrary: oddString.map((s) => 'fz/' + enc(s.slice(0, 250))) },
  { weight: 1, arbitrary: fc.constantFrom('', '/', '%2F', 'fz//x', 'fz/%20', 'fz/a?b', 'fz/%00') },
);

type Req = { method: string; path: string; query: string; body?: unknown; raw?: string; contentType?: string; auth: 'admin' | 'read' | 'wrong' | 'none'; headers: Record<string, string> };

const route = fc.oneof(
  fc.record({ method: fc.constant('POST'), path: fc.constant('/api/tasks'), body: taskBody }),
  fc.record({ method: fc.constant('POST'), path: fc.constant('/api/tasks'), body: validTask }),
  fc.record({ method: fc.constant('PATCH'), path: id.map((i) => `/api/tasks/${i}`), body: validTask.map(({ name, payload }) => ({ name, payload })) }),
  fc.record({ method: fc.constant('GET'), path: fc.constant('/api/tasks') }),
  fc.record({ method: fc.constant('GET'), path: id.map((i) => `/api/tasks/${i}`) }),
  fc.record({ method: fc.constant('PATCH'), path: id.map((i) => `/api/tasks/${i}`), body: patchBody }),
  fc.record({ method: fc.constant('DELETE'), path: id.map((i) => `/api/tasks/${i}`) }),
  fc.record({ method: fc.constant('POST'), path: fc.tuple(id, fc.constantFrom('pause', 'resume', 'trigger')).map(([i, a]) => `/api/tasks/${i}/${a}`), body: rare(wrongType) }),
  fc.record({ method: fc.constant('GET'), path: fc.constant('/api/runs') }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/api/tasks/batch'),
    body: fc.oneof(
      fc.record({ tasks: fc.array(fc.oneof(validTask, taskBody, validTask.chain((v) => taskKey.map((key) => ({ ...v, key })))), { minLength: 0, maxLength: 6 }) }),
      fc.record({ tasks: wrongType }),
      wrongType,
    ),
  }),
  fc.record({ method: fc.constant('PUT'), path: taskKey.map((k) => `/api/tasks/by-key/${k}`), body: fc.oneof(validTask, taskBody) }),
  fc.record({ method: fc.constantFrom('GET', 'DELETE'), path: taskKey.map((k) => `/api/tasks/by-key/${k}`) }),
  fc.record({ method: fc.constant('PATCH'), path: taskKey.map((k) => `/api/tasks/by-key/${k}`), body: patchBody }),
  fc.record({ method: fc.constantFrom('GET', 'DELETE'), path: fc.constant('/api/tasks'), query: taskKey.map((k) => `keyPrefix=${k}`) }),
  fc.record({ method: fc.constant('GET'), path: fc.constant('/api/schedules/preview') }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/api/schedules/preview'),
    body: fc.record({ expression: cronExpr, timezone: maybe(timezone), count: maybe(fc.integer({ min: 1, max: 50 }), fc.integer()), startAt: maybe(instant), endAt: maybe(instant) }, { requiredKeys: [] }),
  }),
  fc.record({ method: fc.constantFrom('GET', 'HEAD'), path: fc.constantFrom('/api/cluster', '/api/stats', '/api/webhooks/signing-secrets', '/healthz', '/readyz', '/metrics', '/api/openapi.json') }),
  fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'), path: fc.oneof(fc.constantFrom('/api', '/api/', '/api/tasks/', '/api/runs/1', '/api//tasks', '/API/TASKS', '/api/tasks/x/y/z'), oddString.map((s) => '/api/' + enc(s.slice(0, 200)))) }),
);

const request: fc.Arbitrary<Req> = fc
  .record({
    route,
    query: rare(rawQuery, 3),
    raw: rare(rawBody, 8),
    contentType,
    auth: fc.oneof({ weight: 10, arbitrary: fc.constant('admin' as const) }, { weight: 2, arbitrary: fc.constantFrom('read' as const, 'wrong' as const, 'none' as const) }),
    idem: rare(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 250 }), 6),
    ifMatch: rare(fc.oneof(fc.constantFrom('"1"', 'W/"2"', '*', 'abc', '"-1"'), fc.string({ unit: 'grapheme-ascii', maxLength: 20 })), 8),
  })
  .map(({ route: r, query: q, raw, contentType: ct, auth, idem, ifMatch }) => ({
    method: r.method,
    path: r.path,
    query: [('query' in r ? r.query : undefined), q].filter(Boolean).join('&'),
    body: 'body' in r ? r.body : undefined,
    raw: raw,
    contentType: ct,
    auth,
    headers: { ...(idem ? { 'idempotency-key': idem } : {}), ...(ifMatch ? { 'if-match': ifMatch } : {}) },
  }));

// ---- invariants -------------------------------------------------------------------------------

async function snapshot(): Promise<string> {
  const [row] = await t.app.sql`
    select (select count(*) from tasks) as tasks, (select coalesce(sum(version), 0) from tasks) as versions,
           (select max(updated_at) from tasks) as updated, (select count(*) from runs where trigger = 'manual') as manual,
           (select count(*) from tasks where state = 'deleted') as deleted`;
  return JSON.stringify(row);
}

const TOKENS = { admin: ADMIN, read: READ, wrong: 'not-a-valid-token-at-all', none: undefined };
const stats = { requests: 0, byStatus: new Map<number, number>(), created: 0, patched: 0 };

async function send(r: Req) {
  const path = r.path.replace('KNOWN', knownIds.length ? knownIds[stats.requests % knownIds.length]! : '00000000-0000-4000-8000-000000000000');
  const headers: Record<string, string> = { ...r.headers };
  const token = TOKENS[r.auth];
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (r.body !== undefined || (r.raw !== undefined && r.method !== 'GET' && r.method !== 'HEAD')) {
    payload = r.raw ?? JSON.stringify(r.body);
    if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  }
  const res = await t.app.http.inject({ method: r.method as never, url: path + (r.query ? `?${r.query}` : ''), headers, payload });
  stats.requests++;
  stats.byStatus.set(res.statusCode, (stats.byStatus.get(res.statusCode) ?? 0) + 1);
  // what the server received: JSON's view of the value (-0 is sent as 0)
  return { res, path, sent: payload !== undefined && r.raw === undefined ? JSON.parse(payload) : undefined };
}

it(`survives ${RUNS} random and malformed requests: no 5xx, nothing stored when refused, stored strings intact`, async () => {
  // a few real tasks for the requests that need an existing id
  for (let i = 0; i < 5; i++) {
    const res = await t.app.http.inject({
      method: 'POST', url: '/api/tasks', headers: { authorization: `Bearer ${ADMIN}` },
      payload: { name: `seed ${i}`, schedule: { type: 'cron', expression: '0 0 1 1 *' }, action: { type: 'webhook', url: 'https://hooks.invalid/x' } },
    });
    knownIds.push(res.json().id);
  }

  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const writes = r.method !== 'GET' && r.method !== 'HEAD';
      const before = writes ? await snapshot() : '';
      const { res, path, sent } = await send(r);
      const where = `${r.method} ${path} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
      expect(res.statusCode, where).toBeLessThan(500);
      if (r.method !== 'HEAD' && path.startsWith('/api/') && !path.startsWith('/api/docs')) {
        const body = res.body ? JSON.parse(res.body) : undefined;
        if (res.statusCode >= 400) {
          expect(typeof body.error.code, where).toBe('string');
          expect(typeof body.error.message, where).toBe('string');
        }
      }
      if (writes && res.statusCode >= 400) expect(await snapshot(), `refused but changed something: ${where}`).toBe(before);

      // what was stored comes back exactly as sent
      // one task in the answer (a batch answers with a list)
      const ok = !path.startsWith('/api/tasks/batch') && (res.statusCode === 201 || (res.statusCode === 200 && (r.method === 'PATCH' || r.method === 'PUT')));
      if (ok && sent && typeof sent === 'object' && r.auth === 'admin') {
        const task = res.json() as Task;
        const body = sent as Record<string, unknown>;
        if (res.statusCode === 201) {
          stats.created++;
          knownIds.push(task.id);
        } else stats.patched++;
        const stored = (await t.app.http.inject({ method: 'GET', url: `/api/tasks/${task.id}`, headers: { authorization: `Bearer ${ADMIN}` } })).json() as Task;
        if (typeof body.name === 'string') {
          expect(task.name).toBe(body.name);
          expect(stored.name).toBe(body.name);
          expect(Buffer.from(stored.name).equals(Buffer.from(body.name as string))).toBe(true);
        }
        if ('payload' in body) expect(stored.payload).toEqual(body.payload ?? null);
        const a = body.action as { url?: string; headers?: Record<string, string>; body?: unknown } | undefined;
        if (a && stored.action.type === 'webhook') {
          expect(stored.action.url).toBe(a.url);
          if (a.headers) expect(stored.action.headers ?? {}).toEqual(a.headers);
          if (a.body !== undefined) expect(stored.action.body).toEqual(a.body);
        }
      }
    }),
    { numRuns: RUNS, endOnFailure: true },
  );

  const byStatus = Object.fromEntries([...stats.byStatus].sort(([a], [b]) => a - b));
  console.log(`fuzz: ${stats.requests} requests; created ${stats.created} tasks, patched ${stats.patched}; by status ${JSON.stringify(byStatus)}`);
  expect(stats.requests).toBeGreaterThanOrEqual(RUNS);
}, 600_000);

it('inputs the fuzzer found or that are too rare to leave to chance: 400 naming the field, never 500', async () => {
  const at = new Date(Date.now() + 3_600_000).toISOString();
  const auth = { authorization: `Bearer ${ADMIN}` };
  const cases: [string, string, string | undefined, string][] = [
    ['GET', '/api/runs?from=2030-12-31T23:59:60Z', undefined, 'from'], // a leap second: valid format, no Date
    ['GET', '/api/runs?to=2030-12-31T23:59:60Z', undefined, 'to'],
    ['GET', '/api/tasks?q=a%00b', undefined, 'q'],
    ['GET', '/api/tasks/%ED%A0%80', undefined, 'url'], // not decodable
    ['POST', '/api/tasks', JSON.stringify({ name: 'a\u0000b', schedule: { type: 'once', at } }), 'name'],
    ['POST', '/api/tasks', `{"name":"x\\ud800","schedule":{"type":"once","at":"${at}"}}`, 'name'],
    ['POST', '/api/tasks', JSON.stringify({ name: 'x', schedule: { type: 'once', at }, payload: { deep: { 'k\u0000': 1 } } }), 'payload.deep'],
    ['POST', '/api/tasks', `{"name":"x","schedule":{"type":"once","at":"${at}"},"payload":${'['.repeat(10_000)}${']'.repeat(10_000)}}`, 'payload'],
    ['POST', '/api/tasks', JSON.stringify({ name: 'x', schedule: { type: 'cron', expression: '* * * * *', timezone: 'UTC\u0000' } }), 'schedule.timezone'],
    ['POST', '/api/tasks', JSON.stringify({ name: 'x', schedule: { type: 'once', at }, action: { type: 'webhook', url: 'https://x.invalid/', body: '\ud800' } }), 'action.body'],
  ];
  for (const [method, url, body, field] of cases) {
    const before = await snapshot();
    const res = await t.app.http.inject({ method: method as never, url, payload: body, headers: body ? { ...auth, 'content-type': 'application/json' } : auth });
    expect(res.statusCode, `${method} ${url.slice(0, 60)}: ${res.body.slice(0, 200)}`).toBe(400);
    expect(res.json().error.details.field).toBe(field);
    expect(await snapshot()).toBe(before);
  }
});
