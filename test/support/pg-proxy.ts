// A TCP proxy in front of the suite's PostgreSQL, to break connections on purpose:
// cut one right after the server received a COMMIT (so the transaction commits and the
// client never hears it), or take the database away and bring it back.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface PgProxy {
  /** the database URL through the proxy */
  url: string;
  /** the next client message containing COMMIT reaches the server, then that connection dies unanswered */
  cutAtNextCommit(): Promise<void>;
  /** drops every connection and refuses new ones until `up()` */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startPgProxy(targetUrl: string): Promise<PgProxy> {
  const target = new URL(targetUrl);
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  let cutArmed: (() => void) | undefined;

  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    let swallow = false;
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => {
      upstream.write(chunk);
      if (cutArmed && /commit/i.test(chunk.toString('latin1'))) {
        const done = cutArmed;
        cutArmed = undefined;
        // the server has the COMMIT; its answer never reaches the client
        swallow = true;
        setTimeout(() => {
          end();
          done();
        }, 200);
      }
    });
    upstream.on('data', (chunk) => {
      if (!swallow) client.write(chunk);
    });
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  return {
    url: url.toString(),
    cutAtNextCommit: () => new Promise<void>((r) => (cutArmed = r)),
    down() {
      refusing = true;
      for (const [c, u] of [...pairs]) {
        c.destroy();
        u.destroy();
      }
      pairs.clear();
    },
    up() {
      refusing = false;
    },
    async close() {
      this.down();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
