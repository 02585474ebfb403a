// The drill's webhook receiver, in its own process so that a node's event loop cannot
// delay it: it stamps each request on arrival (the moment the execution reached the
// receiver, which is where the drill measures a webhook's lag) and counts deliveries per
// Idempotency-Key, so a delivery repeated after a rescue is seen as a duplicate here
// even though the ledger holds one run.
//
//   node --import tsx bench/chaos-receiver.ts <port>
//   GET /dump → {"deliveries":[[idempotencyKey, firstArrivalMs, count], ...]}
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const seen = new Map<string, { first: number; count: number }>();
let requests = 0;

const server = createServer((req, res) => {
  const arrived = Date.now();
  if (req.method === 'GET' && req.url === '/dump') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requests, deliveries: [...seen].map(([k, v]) => [k, v.first, v.count]) }));
    return;
  }
  const key = req.headers['idempotency-key'];
  if (typeof key === 'string') {
    const s = seen.get(key);
    if (s) s.count++;
    else seen.set(key, { first: arrived, count: 1 });
  }
  requests++;
  // the body is not needed: the key names the occurrence; drain it so the socket is reused
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
