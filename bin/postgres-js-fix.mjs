// Module loader hook (registered by bin/sundial.js before the server loads): fixes a
// crash in postgres.js 3.4.x that killed a Sundial node whenever PostgreSQL restarted
// or failed over. It rewrites the driver's source as it is loaded; nothing on disk
// changes, so it holds in a clean install, in the Docker image and in tests alike.
//
// The defect: postgres.js defers small writes behind setImmediate(nextWrite). When the
// server goes away, closed() sets `socket = null` and cancels that immediate without
// forgetting it; a transaction failing there (sql.begin sends ROLLBACK on the same
// connection) then schedules a write on the dead connection, and nextWrite throws
// "TypeError: Cannot read properties of null (reading 'write')" from a timer, where no
// caller can catch it: the process exits. Measured: test/cluster/postgres-restart saw the
// node die in 2 of 5 PostgreSQL restarts without this, 0 of 6 with it. Upstream:
// porsager/postgres issues #1066, #1154, #1208 (open; fixes proposed in PRs #1168, #1176,
// #1209; 3.4.9 is the latest release). The stale, non-null timer also leaves the
// connection's next socket unable to flush (a write waits for an immediate never armed).
//
// The fix: nextWrite on a closed connection settles its queries with CONNECTION_CLOSED
// instead of throwing, and both teardown paths forget the cancelled write. If the driver's
// code is not what this expects (an upgrade that fixed it), nothing is changed and a
// warning says so: then delete this file and its registration.

const TARGET = /\/node_modules\/postgres\/src\/connection\.js$/;

const EDITS = [
  [
    '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    "  function nextWrite(fn) {\n    if (!socket) {\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)",
  ],
  // terminate()
  ['    clearImmediate(nextWriteTimer)\n    if (socket) {', '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {'],
  // closed()
  [
    "    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)",
    "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener('data', data)",
  ],
];

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!TARGET.test(url) || result.source == null) return result;
  let source = String(result.source);
  if (!EDITS.every(([from]) => source.split(from).length === 2)) {
    process.stderr.write('sundial: postgres.js is not the version bin/postgres-js-fix.mjs expects; its crash fix is not applied\n');
    return result;
  }
  for (const [from, to] of EDITS) source = source.replace(from, to);
  return { ...result, source };
}
