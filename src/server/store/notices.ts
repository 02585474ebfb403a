// The cluster's one notification channel. Every NOTIFY Sundial sends is a Notice:
// built and sent here (notify, or noticeSql inside a statement), parsed here
// (parseNotice), and delivered to the services that subscribe to its topic
// (NoticeListener). Notices are hints sent once per transaction, never per row; a
// lost one costs at most a poll interval, so nothing depends on receiving it.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Logger } from 'pino';
import { TASK_CHANGES } from '../../shared/schemas.js';
import type { Sql, Tx } from './db.js';

export const NOTIFY_CHANNEL = 'sundial';

/** Topics carried on the channel (the notice's `t`). */
export const Topic = {
  /** a task was created, changed or triggered */
  task: 'task',
  /** a node claimed or recorded runs (live views refresh) */
  runs: 'runs',
  /** runs became claimable without a task change (handed back): claimers look now */
  wake: 'wake',
} as const;
export type Topic = (typeof Topic)[keyof typeof Topic];

const TaskNotice = Type.Object({
  t: Type.Literal(Topic.task),
  id: Type.String(),
  change: Type.Union(TASK_CHANGES.map((c) => Type.Literal(c))),
  /** the change makes something due within the lookahead: claimers look now */
  wake: Type.Optional(Type.Boolean()),
  /** the change cancelled claimed, unfired occurrences: nodes drop what they hold */
  cancelled: Type.Optional(Type.Boolean()),
});
const RunsNotice = Type.Object({ t: Type.Literal(Topic.runs), node: Type.String(), count: Type.Integer({ minimum: 0 }) });
const WakeNotice = Type.Object({ t: Type.Literal(Topic.wake) });
const NoticeSchema = Type.Union([TaskNotice, RunsNotice, WakeNotice]);

export type TaskNotice = Static<typeof TaskNotice>;
export type RunsNotice = Static<typeof RunsNotice>;
export type Notice = Static<typeof NoticeSchema>;
export type NoticeOf<T extends Topic> = Extract<Notice, { t: T }>;

const check = TypeCompiler.Compile(NoticeSchema);

function encode(notice: Notice): string {
  return JSON.stringify(notice);
}

/** Sends a notice; inside a transaction it goes out at commit, and not at all on rollback. */
export async function notify(tx: Tx | Sql, notice: Notice): Promise<void> {
  await tx`select pg_notify(${NOTIFY_CHANNEL}, ${encode(notice)})`;
}

/** The pg_notify call as a fragment, for a statement that notifies in the same round trip. */
export function noticeSql(sql: Sql | Tx, notice: Notice) {
  return sql`pg_notify(${NOTIFY_CHANNEL}, ${encode(notice)})`;
}

/** A notice from its payload text; undefined for anything else (another version, garbage). */
export function parseNotice(text: string): Notice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return check.Check(value) ? value : undefined;
}

type Handler = (notice: Notice) => void;

/**
 * One LISTEN connection per node, fanning notices out by topic. Subscribers are
 * called synchronously in the order they subscribed; one that throws is logged and
 * does not keep the others from their notice.
 */
export class NoticeListener {
  private readonly handlers = new Map<Topic, Set<Handler>>();
  private listening?: Promise<{ unlisten(): Promise<void> }>;

  constructor(private readonly deps: { sql: Sql; log: Logger }) {}

  subscribe<T extends Topic>(topic: T, fn: (notice: NoticeOf<T>) => void): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(fn as Handler);
    return () => set.delete(fn as Handler);
  }

  /** Delivers a notice to its subscribers (the LISTEN callback; tests call it directly). */
  dispatch(notice: Notice): void {
    for (const fn of this.handlers.get(notice.t) ?? []) {
      try {
        fn(notice);
      } catch (err) {
        this.deps.log.error({ err, topic: notice.t }, 'notice subscriber failed');
      }
    }
  }

  async start(): Promise<void> {
    this.listening ??= this.deps.sql.listen(NOTIFY_CHANNEL, (payload) => {
      const notice = parseNotice(payload);
      if (notice) this.dispatch(notice);
    });
    await this.listening;
  }

  async stop(): Promise<void> {
    const listening = this.listening;
    this.listening = undefined;
    if (!listening) return;
    await listening.then((l) => l.unlisten()).catch(() => {});
  }
}
