// POST /api/tasks/batch, from the request's raw body to its answer: parse, validate
// every item, store them in one transaction, answer. It runs in the batch thread
// (batch-worker.ts) so that an import's parsing, validation and garbage stay off the
// event loop that fires what is due; nothing here reads state of the node itself.
import { setImmediate as nextTurn } from 'node:timers/promises';
import sjson from 'secure-json-parse';
import { LIMITS, TaskCreate } from '../../shared/schemas.js';
import { ApiError } from '../errors.js';
import type { CreateClaimTerms } from '../scheduler/claimer.js';
import { planClaim } from '../scheduler/plan.js';
import type { Sql, Tx } from '../store/db.js';
import { occurrencesClaimOfTasks, type ClaimedRun } from '../store/runs.js';
import { isKeyConflict, PutRejected, taskBatchAnswer, taskBatchClaim, tasksGetByIds, tasksPut, withKeyRaceRetry, type ClaimNew, type PutResult, type TaskInsert } from '../store/tasks.js';
import type { AllowList } from '../webhooks/ssrf.js';
import { assertUsableInput } from './input-guard.js';
import { taskOut } from './serialize.js';
import { replacePlan, requestHash, taskInsertFromCreate } from './task-input.js';
import { compileBodyValidator, validationToApiError } from './validation.js';

/** The batch envelope is checked first; its items one by one, so every bad item is named. */
const BatchEnvelope = {
  type: 'object',
  required: ['tasks'],
  additionalProperties: false,
  properties: { tasks: { type: 'array', minItems: 1, maxItems: LIMITS.bulkMaxTasks } },
};
const checkEnvelope = compileBodyValidator(BatchEnvelope);
const checkItem = compileBodyValidator(TaskCreate);

/** One batch request, as plain data (it crosses to the batch thread). */
export interface BatchJob {
  /** the request body as received */
  body: Uint8Array;
  /** the node's clock (ms) when the request arrived */
  now: number;
  minimal: boolean;
  idempotencyKey: string | null;
  /** claim what falls due within the horizon for this node (null: the claimer finds it) */
  claim: CreateClaimTerms | null;
}

export interface BatchAnswer {
  status: number;
  /** the JSON answer, as text */
  body: string;
  replayed: boolean;
  /** runs claimed for this node in the committed transaction: the node holds them */
  claimed: ClaimedRun[];
  /** tasks whose schedule could not be evaluated by the claim (stopped) */
  scheduleErrors: { taskId: string; message: string }[];
}

/** A batch that failed after its claim: its COMMIT may have landed, so the node reconciles. */
export class BatchFailed extends Error {
  constructor(
    readonly cause: unknown,
    readonly claimedBeforeFailure: boolean,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

export interface BatchEnv {
  sql: Sql;
  lookaheadMs: number;
  /** leave out the read of an import's new keys (see KeyGuess); absent: always read */
  keys?: KeyGuess;
  allow?: AllowList;
  /** called first in every batch transaction (the bulk priority of its backend); not awaited before the writes */
  onTransaction?: (tx: Tx) => Promise<void>;
}

/**
 * Whether a batch's keys are read before its INSERT. An import's keys are new, and
 * reading a thousand of them FOR UPDATE found nothing at ~2.9 ms of PostgreSQL a batch
 * (pg_stat_statements, a 300,000-task load), so the first attempt assumes them free: a
 * key held after all fails the INSERT on the live-key index before anything commits,
 * and the batch runs again, reading. After such a miss the thread's next batches read
 * first (a client sending a file again replaces what it sent), then it guesses again.
 */
export class KeyGuess {
  private readFirst = 0;
  constructor(private readonly afterMiss = 50) {}
  /** true: this attempt may leave the read out */
  assumeFree(attempt: number): boolean {
    if (attempt > 1) return false;
    if (this.readFirst === 0) return true;
    this.readFirst--;
    return false;
  }
  missed(): void {
    this.readFirst = this.afterMiss;
  }
  /** true while batches read their keys first (after a miss) */
  get reading(): boolean {
    return this.readFirst > 0;
  }
}

/** Items validated between two turns of the event loop. */
const VALIDATE_SLICE = 100;

function parseBody(body: Uint8Array): unknown {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (!text.trim()) throw new ApiError('INVALID_JSON', 'the body is empty; send a JSON object');
  try {
    // as Fastify's own parser: __proto__ and constructor.prototype keys are refused
    return sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new ApiError('INVALID_JSON', 'the body is not valid JSON');
  }
}

type Problem = { field: string; code: string; message: string };

const batchRejected = (problems: Problem[], total: number) =>
  new ApiError('BATCH_INVALID', `${problems.length}${problems.length >= LIMITS.batchMaxErrors ? '+' : ''} of ${total} tasks are invalid; nothing was stored`, {
    field: problems[0]!.field,
    errors: problems,
  });

/** Validates every item (all of them: the answer names each bad one). Keyed items are upserts. */
async function parseItems(bodies: unknown[], now: Date, allow: AllowList | undefined) {
  const inputOpts = { allow };
  /** keyed items are parsed with past instants allowed: replacePlan decides (see there) */
  const keyedOpts = { ...inputOpts, allowPast: true };
  const problems: Problem[] = [];
  const rows: TaskInsert[] = [];
  const explicitPast = new WeakSet<TaskInsert>();
  const seen = new Map<string, number>();
  for (let i = 0; i < bodies.length && problems.length < LIMITS.batchMaxErrors; i++) {
    // a 1,000-item batch is ~2.5 ms of validation (profiled): let the thread's other batches move in between
    if (i && i % VALIDATE_SLICE === 0) await nextTurn();
    const body = bodies[i];
    try {
      if (!checkItem(body)) throw validationToApiError(checkItem.errors!, 'body');
      const b = body as TaskCreate;
      const row = taskInsertFromCreate(b, now, null, b.key !== undefined ? keyedOpts : inputOpts);
      if (b.runImmediatelyIfPast) explicitPast.add(row);
      if (row.key !== null) {
        const first = seen.get(row.key);
        if (first !== undefined) {
          throw new ApiError('VALIDATION_FAILED', `key ${JSON.stringify(row.key)} is also used by tasks[${first}]`, { field: 'key' });
        }
        seen.set(row.key, i);
      }
      rows.push(row);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const prefix = `tasks[${i}]`;
      const field = err.details?.field && err.details.field !== 'body' ? `${prefix}.${String(err.details.field)}` : prefix;
      problems.push({ field, code: err.code, message: `${prefix}: ${err.message}` });
    }
  }
  return { rows, problems, explicitPast };
}

/**
 * The minimal answer written as text: `{"items":[{"id","key","outcome"}, …]}`. A batch
 * answer of 1,000 objects and their JSON.stringify cost a bulk load ~4 % of the node's CPU.
 */
function minimalText(results: PutResult[], rows: TaskInsert[]): string {
  let s = '{"items":[';
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    const key = rows[i]!.key;
    s += `${i ? ',' : ''}{"id":"${r.id}","key":${key === null ? 'null' : JSON.stringify(key)},"outcome":"${r.outcome}"}`;
  }
  return s + ']}';
}

/** The claim of created tasks under the node's terms, inside the batch's transaction. */
function claimUnder(terms: CreateClaimTerms, now: Date, runs: ClaimedRun[], scheduleErrors: BatchAnswer['scheduleErrors']): ClaimNew {
  return async (tx, ids) => {
    const claimed = await occurrencesClaimOfTasks(tx, {
      nodeId: terms.nodeId,
      taskIds: ids,
      horizon: new Date(now.getTime() + terms.horizonMs),
      limit: Math.min(ids.length, terms.limit),
      plan: (t) => {
        const plan = planClaim(t, now, terms.misfireThresholdMs);
        if (plan.scheduleError) scheduleErrors.push({ taskId: t.id, message: String(plan.scheduleError) });
        return plan;
      },
    });
    runs.push(...claimed);
    return new Set(claimed.map((r) => r.taskId));
  };
}

/**
 * The whole batch: all or nothing. `admit(n)` is asked once the body parsed, before
 * anything is stored (the rate limit counts a batch by its tasks); it throws to refuse.
 * Throws an ApiError for the client, or BatchFailed when the database failed.
 */
export async function runBatch(env: BatchEnv, job: BatchJob, admit?: (tasks: number) => Promise<void>): Promise<BatchAnswer> {
  const parsed = parseBody(job.body);
  // what every other route's body gets in server.ts: values PostgreSQL cannot store, nesting too deep
  assertUsableInput({ body: parsed });
  if (!checkEnvelope(parsed)) throw validationToApiError(checkEnvelope.errors!, 'body');
  const bodies = (parsed as { tasks: unknown[] }).tasks;
  await admit?.(bodies.length);
  const now = new Date(job.now);
  const { rows, problems, explicitPast } = await parseItems(bodies, now, env.allow);
  if (problems.length) throw batchRejected(problems, bodies.length);
  const idem = job.idempotencyKey;
  const hash = idem ? requestHash(parsed) : '';
  let claimedBeforeFailure = false;
  try {
    const answer = await withKeyRaceRetry(async (attempt) => {
      // per attempt: nothing a rolled-back attempt claimed is held
      const claimed: ClaimedRun[] = [];
      const scheduleErrors: BatchAnswer['scheduleErrors'] = [];
      const keysAssumedFree = env.keys?.assumeFree(attempt) ?? false;
      const writes = async (tx: Tx): Promise<BatchAnswer> => {
        if (idem) {
          const first = await taskBatchClaim(tx, idem, hash);
          if (first) {
            if (first.requestHash !== hash) {
              throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different batch', { field: 'header.idempotency-key' });
            }
            const body = typeof first.response === 'string' ? first.response : JSON.stringify(first.response);
            return { status: first.status, body, replayed: true, claimed, scheduleErrors };
          }
        }
        const claim = job.claim && { before: new Date(now.getTime() + job.claim.horizonMs), claim: claimUnder(job.claim, now, claimed, scheduleErrors) };
        const { results } = await put(tx, rows, explicitPast, now, env.lookaheadMs, claim, keysAssumedFree);
        if (job.minimal && !idem) return { status: 201, body: minimalText(results, rows), replayed: false, claimed, scheduleErrors };
        let items: unknown[];
        if (job.minimal) items = results.map((r, i) => ({ id: r.id, key: rows[i]!.key, outcome: r.outcome }));
        else {
          const byId = new Map((await tasksGetByIds(tx, results.map((r) => r.id))).map((t) => [t.id, t]));
          items = results.map((r) => ({ ...taskOut(byId.get(r.id)!), outcome: r.outcome }));
        }
        const response = { items };
        if (idem) await taskBatchAnswer(tx, idem, 201, response);
        // 1,000 items: plain JSON.stringify beats the schema serializer's anyOf per item
        return { status: 201, body: JSON.stringify(response), replayed: false, claimed, scheduleErrors };
      };
      try {
        return await env.sql.begin(async (tx) => {
          // sent with the statements after it (postgres.js pipelines a transaction's
          // queries): not a round trip of its own before the batch's writes
          const marked = env.onTransaction?.(tx);
          try {
            return await writes(tx);
          } finally {
            await marked?.catch(() => {});
          }
        });
      } catch (err) {
        if (claimed.length) claimedBeforeFailure = true;
        if (keysAssumedFree && isKeyConflict(err)) env.keys!.missed();
        throw err;
      }
      // one attempt more than a put that reads: the first may only have guessed
    }, env.keys ? 4 : 3);
    return answer;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new BatchFailed(err, claimedBeforeFailure);
  }
}

/** One transaction's writes: validate against what the keys hold, store. */
async function put(
  tx: Tx,
  rows: TaskInsert[],
  explicitPast: WeakSet<TaskInsert>,
  now: Date,
  lookaheadMs: number,
  claim: { before: Date; claim: ClaimNew } | null,
  keysAssumedFree: boolean,
) {
  try {
    return await tasksPut(tx, rows, replacePlan(now, (w) => explicitPast.has(w)), new Date(now.getTime() + lookaheadMs), claim ?? undefined, { keysAssumedFree });
  } catch (err) {
    if (!(err instanceof PutRejected)) throw err;
    throw batchRejected(
      err.items.map(({ index, error }) => {
        const e = error instanceof ApiError ? error : new ApiError('VALIDATION_FAILED', String(error));
        const prefix = `tasks[${index}]`;
        return { field: `${prefix}.${String(e.details?.field ?? '')}`.replace(/\.$/, ''), code: e.code, message: `${prefix}: ${e.message}` };
      }),
      rows.length,
    );
  }
}
