// The SSRF guard: which addresses are refused, that the check is made on the address
// actually connected to, and that redirects cannot route around it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, Task } from '../../src/shared/schemas.js';
import { sendWebhook, type OutgoingRequest } from '../../src/server/webhooks/http.js';
import { addressVerdict, EMPTY_ALLOW_LIST, parseAllowList, type LookupFn } from '../../src/server/webhooks/ssrf.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { api, eventually } from '../support/node.js';
import { startReceiver, type Receiver } from './receiver.js';

let rx: Receiver;
let rx6: Receiver | undefined;
beforeAll(async () => {
  rx = await startReceiver();
  rx6 = await startReceiver('::1').catch(() => undefined); // no IPv6 loopback on some hosts
});
afterAll(async () => {
  await rx?.close();
  await rx6?.close();
});

const get = (url: string): OutgoingRequest => ({ url, method: 'POST', headers: { 'x-secret': 's' }, body: '{}', taskHeaders: ['x-secret'] });
const LOCAL = parseAllowList('127.0.0.1/32');

/** A resolver that answers from a table, counting its calls (stands in for DNS). */
function fakeDns(table: Record<string, string[]>) {
  const calls: string[] = [];
  const resolve: LookupFn = (hostname, _opts, cb) => {
    calls.push(hostname);
    const addrs = table[hostname];
    if (!addrs) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    cb(null, addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
  return { resolve, calls };
}

describe('address classes', () => {
  const refused = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'unique local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::7f00:1', 'NAT64'],
    ['2002:7f00:1::', '6to4'],
    ['::7f00:1', 'IPv4-compatible'],
  ];
  for (const [address, kind] of refused) {
    it(`refuses ${address} (${kind})`, () => {
      expect(addressVerdict(address!)).toContain(kind!);
    });
  }
  for (const address of ['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
    it(`lets ${address} through`, () => expect(addressVerdict(address)).toBeNull());
  }
  it('the allow-list opens exactly the ranges and hosts it names', () => {
    const allow = parseAllowList(' 127.0.0.1/32, 10.20.0.0/16 ,::1/128, hooks.internal.example, *.svc.cluster.local');
    expect(addressVerdict('127.0.0.1', allow)).toBeNull();
    expect(addressVerdict('::ffff:127.0.0.1', allow)).toBeNull();
    expect(addressVerdict('127.0.0.2', allow)).not.toBeNull();
    expect(addressVerdict('10.20.99.1', allow)).toBeNull();
    expect(addressVerdict('10.21.0.1', allow)).not.toBeNull();
    expect(addressVerdict('::1', allow)).toBeNull();
    expect(allow.hosts.has('hooks.internal.example')).toBe(true);
    expect(allow.suffixes).toEqual(['.svc.cluster.local']);
    expect(() => parseAllowList('10.0.0.0/33')).toThrow(/CIDR/);
    expect(() => parseAllowList('not a host!')).toThrow();
  });
});

describe('sendWebhook refuses before connecting', () => {
  const literals = () => [
    `http://127.0.0.1:${rx.port}/lit`,
    `http://2130706433:${rx.port}/lit-decimal`, // 127.0.0.1 spelled as one number
    `http://0x7f.0.0.1:${rx.port}/lit-hex`,
    `http://127.1:${rx.port}/lit-short`,
    `http://[::ffff:127.0.0.1]:${rx.port}/lit-mapped`,
    `http://0.0.0.0:${rx.port}/lit-zero`,
    `http://[::1]:${rx6?.port ?? rx.port}/lit-v6`,
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00::1]/',
  ];
  it('literal IPs, however they are spelled', async () => {
    for (const url of literals()) {
      const out = await sendWebhook(get(url), { timeoutMs: 2000, allow: EMPTY_ALLOW_LIST });
      expect(out.ok, url).toBe(false);
      expect(out.retryable, url).toBe(false);
      expect(out.error, url).toMatch(/refused by the SSRF guard/);
    }
    expect(rx.on('/lit')).toHaveLength(0);
  });

  it('host names that resolve to private addresses (the system resolver: localhost)', async () => {
    const out = await sendWebhook(get(`http://localhost:${rx.port}/localhost`), { timeoutMs: 2000, allow: EMPTY_ALLOW_LIST });
    expect(out.ok).toBe(false);
    expect(out.retryable).toBe(false);
    expect(out.error).toMatch(/refused by the SSRF guard: localhost resolves to .*loopback/);
    expect(rx.on('/localhost')).toHaveLength(0);
  });

  it('checks the address the connection uses: the answer at connect time, whatever it was before (DNS rebinding)', async () => {
    // A name that looked public when the task was created now resolves to the loopback.
    let answer = '93.184.216.34';
    const calls: string[] = [];
    const rebinding: LookupFn = (hostname, _o, cb) => {
      calls.push(hostname);
      cb(null, [{ address: answer, family: 4 }]);
    };
    answer = '127.0.0.1';
    const out = await sendWebhook(get(`http://rebind.example:${rx.port}/rebind`), { timeoutMs: 2000, allow: EMPTY_ALLOW_LIST, resolve: rebinding });
    expect(out.error).toMatch(/refused by the SSRF guard: rebind\.example resolves to 127\.0\.0\.1 is a loopback address/);
    expect(calls).toEqual(['rebind.example']); // one resolution, and it is the one that was checked
    expect(rx.on('/rebind')).toHaveLength(0);
    // the same resolution with the loopback allow-listed connects to exactly that address
    const ok = await sendWebhook(get(`http://rebind.example:${rx.port}/rebind`), { timeoutMs: 2000, allow: LOCAL, resolve: rebinding });
    expect(ok.statusCode).toBe(200);
    expect(rx.on('/rebind')).toHaveLength(1);
    expect(rx.on('/rebind')[0]!.headers.host).toBe(`rebind.example:${rx.port}`);
  });

  it('a name with public and private answers connects only to an allowed one', async () => {
    const dns = fakeDns({ 'mixed.example': ['10.0.0.5', '127.0.0.1'] });
    // 10.0.0.5 is refused and dropped; 127.0.0.1 is allow-listed and used
    const out = await sendWebhook(get(`http://mixed.example:${rx.port}/mixed`), { timeoutMs: 2000, allow: LOCAL, resolve: dns.resolve });
    expect(out.statusCode).toBe(200);
  });
});

describe('redirects', () => {
  beforeAll(() => {
    rx.handle('/to-private-literal', (_r, res) => res.writeHead(302, { location: 'http://10.0.0.1/admin' }).end());
    rx.handle('/to-metadata', (_r, res) => res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/iam' }).end());
    rx.handle('/to-private-name', (_r, res) => res.writeHead(301, { location: 'http://intranet.example/' }).end());
    rx.handle('/to-v6-loopback', (_r, res) => res.writeHead(308, { location: `http://[::1]:${rx6?.port ?? 1}/v6-target` }).end());
    rx.handle('/to-file', (_r, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end());
    rx.handle('/loop', (r, res) => res.writeHead(302, { location: `/loop?${Number(r.url.split('?')[1] ?? 0) + 1}` }).end());
    rx.handle('/see-other', (_r, res) => res.writeHead(303, { location: '/landing' }).end());
    rx.handle('/temporary', (_r, res) => res.writeHead(307, { location: '/landing-307' }).end());
    rx.handle('/cross-origin', (_r, res) => res.writeHead(307, { location: `http://hooks.example:${rx.port}/landing-cross` }).end());
  });
  const dns = fakeDns({ 'intranet.example': ['192.168.0.10'], 'hooks.example': ['127.0.0.1'] });

  for (const [path, what] of [
    ['/to-private-literal', 'a private literal'],
    ['/to-metadata', 'the metadata address'],
    ['/to-private-name', 'a name resolving to a private address'],
    ['/to-v6-loopback', 'the IPv6 loopback'],
  ] as const) {
    it(`a redirect to ${what} is refused`, async () => {
      const out = await sendWebhook(get(`${rx.url}${path}`), { timeoutMs: 2000, allow: LOCAL, resolve: dns.resolve });
      expect(out.ok).toBe(false);
      expect(out.retryable).toBe(false);
      expect(out.error).toMatch(/refused by the SSRF guard/);
      expect(out.finalUrl).toBeDefined();
    });
  }
  it('a redirect to another scheme is refused', async () => {
    const out = await sendWebhook(get(`${rx.url}/to-file`), { timeoutMs: 2000, allow: LOCAL });
    expect(out.error).toMatch(/only http and https/);
  });
  it('at most 3 redirects are followed', async () => {
    const out = await sendWebhook(get(`${rx.url}/loop?0`), { timeoutMs: 2000, allow: LOCAL });
    expect(out.error).toBe('more than 3 redirects');
    expect(rx.on('/loop')).toHaveLength(4);
  });
  it('303 continues as GET without a body; 307 keeps method and body; another origin does not get the task headers', async () => {
    const a = await sendWebhook(get(`${rx.url}/see-other`), { timeoutMs: 2000, allow: LOCAL });
    expect(a.statusCode).toBe(200);
    expect(a.finalUrl).toBe(`${rx.url}/landing`);
    const [landing] = rx.on('/landing');
    expect(landing!.method).toBe('GET');
    expect(landing!.body).toBe('');
    await sendWebhook(get(`${rx.url}/temporary`), { timeoutMs: 2000, allow: LOCAL });
    const [l307] = rx.on('/landing-307');
    expect(l307!.method).toBe('POST');
    expect(l307!.body).toBe('{}');
    expect(l307!.headers['x-secret']).toBe('s');
    await sendWebhook(get(`${rx.url}/cross-origin`), { timeoutMs: 2000, allow: LOCAL, resolve: dns.resolve });
    const [cross] = rx.on('/landing-cross');
    expect(cross!.headers['x-secret']).toBeUndefined();
  });
});

describe('a node without an allow-list', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ webhooks: { retryBaseMs: 100 } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('rejects a webhook to a private literal IP when the task is created', async () => {
    const res = await api(t.url, 'POST', '/api/tasks', {
      name: 'x',
      schedule: { type: 'once', at: new Date(Date.now() + 60_000).toISOString() },
      action: { type: 'webhook', url: `http://127.0.0.1:${rx.port}/created` },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details.field).toBe('action.url');
    expect(res.body.error.message).toMatch(/SSRF guard.*loopback.*SUNDIAL_WEBHOOK_ALLOW/);
  });

  it('fails a run whose host name resolves to the loopback, once, without retrying, and sends nothing', async () => {
    const res = await api<Task>(t.url, 'POST', '/api/tasks', {
      name: 'to localhost',
      schedule: { type: 'once', at: new Date(Date.now() + 300).toISOString() },
      action: { type: 'webhook', url: `http://localhost:${rx.port}/via-name` },
    });
    expect(res.status).toBe(201);
    const run = await eventually(async () => {
      const r = (await api<{ items: Run[] }>(t.url, 'GET', `/api/runs?taskId=${res.body.id}`)).body.items[0];
      return r && r.status === 'failed' ? r : undefined;
    });
    expect(run.reason).toMatch(/^refused by the SSRF guard: localhost resolves to .* \(not retried\)$/);
    expect(run.deliveries).toHaveLength(1);
    expect(rx.on('/via-name')).toHaveLength(0);
  });
});
