// A local HTTP receiver for webhook tests: records every request (raw body included)
// and answers with whatever the test's handler decides.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export type Handler = (req: Received, res: ServerResponse, index: number) => void;

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** requests whose path starts with `prefix` */
  on(prefix: string): Received[];
  handle(prefix: string, handler: Handler): void;
  close(): Promise<void>;
}

export async function startReceiver(host = '127.0.0.1'): Promise<Receiver> {
  const received: Received[] = [];
  const handlers: [string, Handler][] = [];
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      const found = handlers.find(([p]) => r.url.startsWith(p));
      if (!found) return res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      const n = counts.get(found[0]) ?? 0;
      counts.set(found[0], n + 1);
      found[1](r, res, n);
    });
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    received,
    on: (prefix) => received.filter((r) => r.url.startsWith(prefix)),
    handle: (prefix, handler) => handlers.unshift([prefix, handler]),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
