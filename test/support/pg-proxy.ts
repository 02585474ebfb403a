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
    const commits = commitWatcher();
    client.on('data', (chunk) => {
      upstream.write(chunk);
      if (commits(chunk) && cutArmed) {
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

/**
 * Reads the client's side of the wire protocol and says whether a chunk carried a
 * COMMIT: as a simple query, or as an execution of a statement prepared as COMMIT
 * (postgres.js prepares its `commit` once per connection, then sends only a Bind with
 * the statement's name, in which the word never appears again).
 */
function commitWatcher(): (chunk: Buffer) => boolean {
  let buf = Buffer.alloc(0);
  let started = false;
  const commitNames = new Set<string>();
  const isCommit = (text: string) => /^\s*commit\b/i.test(text);
  const cstrings = (b: Buffer, from: number, count: number) => {
    const out: string[] = [];
    for (let at = from; out.length < count; ) {
      const end = b.indexOf(0, at);
      if (end < 0) break;
      out.push(b.toString('utf8', at, end));
      at = end + 1;
    }
    return out;
  };
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    let found = false;
    for (;;) {
      if (!started) {
        // the startup message (or an SSL request before it) has no type byte
        if (buf.length < 8) break;
        const len = buf.readInt32BE(0);
        if (buf.length < len) break;
        if (buf.readInt32BE(4) !== 80877103) started = true;
        buf = buf.subarray(len);
        continue;
      }
      if (buf.length < 5) break;
      const len = buf.readInt32BE(1);
      if (buf.length < 1 + len) break;
      const type = String.fromCharCode(buf[0]!);
      const body = buf.subarray(5, 1 + len);
      if (type === 'Q' && isCommit(cstrings(body, 0, 1)[0] ?? '')) found = true;
      if (type === 'P') {
        const [name = '', text = ''] = cstrings(body, 0, 2);
        if (isCommit(text)) {
          commitNames.add(name);
          if (!name) found = true; // unnamed: parsed and executed at once
        }
      }
      if (type === 'B') {
        const [, statement = ''] = cstrings(body, 0, 2);
        if (statement && commitNames.has(statement)) found = true;
      }
      buf = buf.subarray(1 + len);
    }
    return found;
  };
}
