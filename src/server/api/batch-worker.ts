// The batch thread (see batch-thread.ts): runs POST /api/tasks/batch requests on a
// PostgreSQL pool of its own, at a lower CPU priority than the thread that fires.
import { parentPort, workerData } from 'node:worker_threads';
import { ApiError } from '../errors.js';
import { BulkPriority } from '../store/background.js';
import { connect } from '../store/db.js';
import { parseAllowList } from '../webhooks/ssrf.js';
import { BatchFailed, KeyGuess, runBatch, type BatchEnv } from './batch.js';
import { errorData, type FromThread, type ThreadSettings, type ToThread } from './batch-thread.js';

const settings = workerData as ThreadSettings;
const port = parentPort!;
const send = (m: FromThread) => port.postMessage(m);

// its nice value was set before anything was loaded (batch-thread.ts, bootstrap)
const sql = connect({
  url: settings.databaseUrl,
  max: settings.connections,
  applicationName: settings.applicationName,
  idleInTransactionTimeoutMs: settings.idleInTransactionTimeoutMs,
  // a batch is a few statements for a thousand rows: planning each one is nothing, and
  // its key lookup must not keep a plan made while the table was empty (db.ts)
  customPlans: true,
});
const priority = new BulkPriority();
const env: BatchEnv = {
  sql,
  lookaheadMs: settings.lookaheadMs,
  keys: new KeyGuess(),
  allow: parseAllowList(settings.webhookAllow),
  onTransaction: (tx) => priority.mark(tx),
};

/** batches waiting for the node's word on their count (the rate limit) */
const admissions = new Map<number, { go: () => void; refuse: () => void }>();

port.on('message', (m: ToThread) => {
  if (m.type === 'admit') {
    const a = admissions.get(m.id);
    admissions.delete(m.id);
    if (m.ok) a?.go();
    else a?.refuse();
    return;
  }
  if (m.type === 'stop') {
    void sql.end({ timeout: 2 }).finally(() => send({ type: 'stopped' }));
    return;
  }
  const { id, job, askCount } = m;
  const admit = askCount
    ? (tasks: number) =>
        new Promise<void>((go, refuse) => {
          admissions.set(id, { go, refuse: () => refuse(new Refused()) });
          send({ type: 'count', id, tasks });
        })
    : undefined;
  runBatch(env, job, admit).then(
    (answer) => send({ type: 'done', id, answer }),
    (err) => {
      if (err instanceof Refused) send({ type: 'refused', id });
      else if (err instanceof ApiError) send({ type: 'rejected', id, error: errorData(err) });
      else {
        const failed = err instanceof BatchFailed ? err : new BatchFailed(err, false);
        const cause = failed.cause as { message?: string; code?: string; errno?: string; severity?: string } | undefined;
        send({
          type: 'failed',
          id,
          // what the node's error handler reads (a database error's code, errno and severity)
          error: { message: cause?.message ?? String(cause), code: cause?.code, errno: cause?.errno, severity: cause?.severity },
          claimedBeforeFailure: failed.claimedBeforeFailure,
        });
      }
    },
  );
});

/** The node refused the batch's count (its answer, a 429, is made there). */
class Refused extends Error {}
