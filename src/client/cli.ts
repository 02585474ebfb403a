// `sundial tasks …` and `sundial runs`: the API from a terminal, on top of the typed
// client. Tables by default, --json for scripts. Exit codes: 0 done, 1 refused or
// partly rejected, 2 bad usage.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { Sundial, SundialError, type Run, type Task, type TaskCreate } from './index.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Globals {
  url: string;
  token?: string;
  json?: boolean;
}

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  stdin: NodeJS.ReadableStream;
  /** a terminal: show a progress bar */
  tty: boolean;
}

const defaultIO = (): CliIO => ({
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  stdin: process.stdin,
  tty: !!process.stderr.isTTY,
});

/** Columns padded to their widest cell. */
function table(rows: string[][]): string {
  if (!rows.length) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

const taskRows = (tasks: Task[]) => [
  ['ID', 'KEY', 'NAME', 'STATE', 'NEXT RUN', 'SCHEDULE'],
  ...tasks.map((t) => [t.id, t.key ?? '-', t.name, t.state, t.nextRunAt ?? '-', t.description]),
];

const runRows = (runs: Run[]) => [
  ['ID', 'TASK', 'SCHEDULED FOR', 'STATUS', 'LAG MS', 'NODE', 'REASON'],
  ...runs.map((r) => [r.id, r.taskKey ?? r.taskId, r.scheduledFor, r.status, r.lagMs === null ? '-' : String(r.lagMs), r.nodeId ?? '-', r.reason ?? '']),
];

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CommanderError(2, 'sundial.usage', `${what} is not valid JSON`);
  }
}

export interface ImportSummary {
  lines: number;
  created: number;
  replaced: number;
  unchanged: number;
  withoutKey: number;
  rejected: { line: number; message: string }[];
}

/**
 * Loads NDJSON task bodies through the batch endpoint, `batchSize` per request and
 * `inFlight` requests at a time. A refused batch is sent again without the items it
 * named (each such line is reported), so one bad line does not hold back the rest.
 * Keyed lines make a second run safe: what is already there comes back "unchanged".
 */
export async function importTasks(
  client: Sundial,
  input: NodeJS.ReadableStream,
  opts: { batchSize?: number; inFlight?: number; total?: number; onProgress?: (done: number) => void } = {},
): Promise<ImportSummary> {
  const batchSize = opts.batchSize ?? 1000;
  const inFlight = opts.inFlight ?? 4;
  const summary: ImportSummary = { lines: 0, created: 0, replaced: 0, unchanged: 0, withoutKey: 0, rejected: [] };
  let done = 0;
  const running = new Set<Promise<void>>();

  const send = async (items: { line: number; body: TaskCreate }[]) => {
    let left = items;
    while (left.length) {
      try {
        const res = await client.tasks.batch(left.map((i) => i.body), { minimal: true });
        for (const item of res.items) summary[item.outcome]++;
        break;
      } catch (err) {
        if (err instanceof SundialError && err.status === 429) {
          await new Promise((r) => setTimeout(r, (err.retryAfter ?? 1) * 1000));
          continue;
        }
        if (!(err instanceof SundialError) || err.code !== 'BATCH_INVALID') throw err;
        const bad = new Map<number, string>();
        for (const e of (err.details?.errors ?? []) as { field: string; message: string }[]) {
          const m = /^tasks\[(\d+)\]/.exec(e.field);
          if (m && !bad.has(Number(m[1]))) bad.set(Number(m[1]), e.message.replace(/^tasks\[\d+\]: /, ''));
        }
        if (!bad.size) throw err;
        for (const [i, message] of bad) summary.rejected.push({ line: left[i]!.line, message });
        left = left.filter((_, i) => !bad.has(i));
      }
    }
    done += items.length;
    opts.onProgress?.(done);
  };

  const flush = async (items: { line: number; body: TaskCreate }[]) => {
    if (!items.length) return;
    while (running.size >= inFlight) await Promise.race(running);
    const p = send(items).finally(() => running.delete(p));
    running.add(p);
  };

  let batch: { line: number; body: TaskCreate }[] = [];
  let n = 0;
  for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
    n++;
    const text = raw.trim();
    if (!text) continue;
    summary.lines++;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      summary.rejected.push({ line: n, message: 'not valid JSON' });
      done++;
      continue;
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      summary.rejected.push({ line: n, message: 'a line must be one JSON object (a task body)' });
      done++;
      continue;
    }
    if ((body as TaskCreate).key === undefined) summary.withoutKey++;
    batch.push({ line: n, body: body as TaskCreate });
    if (batch.length >= batchSize) {
      await flush(batch);
      batch = [];
    }
  }
  await flush(batch);
  await Promise.all(running);
  summary.rejected.sort((a, b) => a.line - b.line);
  return summary;
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path)) for (const b of chunk as Buffer) if (b === 10) n++;
  return n;
}

export function buildCli(io: CliIO = defaultIO()): Command {
  const program = new Command('sundial');
  program
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .addOption(new Option('--url <url>', 'the node to talk to').env('SUNDIAL_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--token <token>', 'API token (admin, or read-only for reading)').env('SUNDIAL_TOKEN'))
    .option('--json', 'print JSON instead of a table');

  const client = () => {
    const g = program.opts<Globals>();
    return new Sundial({ url: g.url, token: g.token ?? process.env.SUNDIAL_API_TOKEN });
  };
  const json = () => !!program.opts<Globals>().json;
  const print = (value: unknown, rows: () => string[][]) => io.out(json() ? JSON.stringify(value, null, 2) + '\n' : table(rows()));

  const tasks = program.command('tasks').description('create, list, show, delete and import tasks');

  tasks
    .command('add')
    .description('create a task (or, with --key, create or replace the task with that key)')
    .requiredOption('--name <name>', 'a name to recognise it by')
    .option('--at <instant>', 'one-time: ISO 8601 instant with offset, e.g. 2026-12-24T18:00:00+01:00')
    .option('--cron <expression>', 'recurring: a cron expression, e.g. "0 9 * * 1-5"')
    .option('--tz <zone>', 'time zone of the cron expression (IANA name)', 'UTC')
    .option('--key <key>', 'your own key, e.g. user-42/reminder-7')
    .option('--payload <json>', 'any JSON value, kept with the task')
    .option('--webhook <url>', 'POST to this URL when it fires (default: log)')
    .action(async (o: { name: string; at?: string; cron?: string; tz: string; key?: string; payload?: string; webhook?: string }) => {
      if (!!o.at === !!o.cron) throw new CommanderError(2, 'sundial.usage', 'give exactly one of --at and --cron');
      const body: TaskCreate = {
        name: o.name,
        schedule: o.at ? { type: 'once', at: o.at } : { type: 'cron', expression: o.cron!, timezone: o.tz },
        ...(o.payload !== undefined ? { payload: parseJson(o.payload, '--payload') } : {}),
        ...(o.webhook ? { action: { type: 'webhook', url: o.webhook } } : {}),
      };
      const task = o.key ? (await client().tasks.put(o.key, body)).task : await client().tasks.create(body);
      print(task, () => taskRows([task]));
    });

  tasks
    .command('list')
    .description('list tasks, newest first')
    .option('--prefix <keyPrefix>', 'only tasks whose key starts with this')
    .option('--state <state>', 'active, paused or completed')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .action(async (o: { prefix?: string; state?: 'active' | 'paused' | 'completed'; limit: number }) => {
      const page = await client().tasks.list({ keyPrefix: o.prefix, state: o.state, limit: o.limit, count: true });
      print(page, () => taskRows(page.items));
      if (!json() && page.total !== undefined && page.total > page.items.length) io.err(`(${page.items.length} of ${page.total})\n`);
    });

  tasks
    .command('get <idOrKey>')
    .description('show one task, by id or by key')
    .action(async (idOrKey: string) => {
      const task = UUID.test(idOrKey) ? await client().tasks.get(idOrKey) : await client().tasks.getByKey(idOrKey);
      if (json()) io.out(JSON.stringify(task, null, 2) + '\n');
      else {
        io.out(table(taskRows([task])));
        if (task.upcoming?.length) io.out(`upcoming: ${task.upcoming.join(', ')}\n`);
      }
    });

  tasks
    .command('rm [idOrKey]')
    .description('delete a task by id or key, or every task under --prefix')
    .option('--prefix <keyPrefix>', 'delete every task whose key starts with this')
    .option('--purge', 'also erase payloads on the tasks and their runs')
    .action(async (idOrKey: string | undefined, o: { prefix?: string; purge?: boolean }) => {
      if (!!idOrKey === !!o.prefix) throw new CommanderError(2, 'sundial.usage', 'give a task id or key, or --prefix');
      const c = client();
      if (o.prefix) {
        const cancelled = await c.tasks.deleteByPrefix(o.prefix, { purge: o.purge });
        io.out(json() ? JSON.stringify({ cancelled }) + '\n' : `deleted ${cancelled} tasks\n`);
        return;
      }
      if (UUID.test(idOrKey!)) await c.tasks.delete(idOrKey!, { purge: o.purge });
      else await c.tasks.deleteByKey(idOrKey!, { purge: o.purge });
      io.out(json() ? JSON.stringify({ deleted: idOrKey }) + '\n' : `deleted ${idOrKey}\n`);
    });

  tasks
    .command('import <file>')
    .description('load NDJSON task bodies (one a line; "-" reads standard input) through the batch endpoint; safe to run again when lines carry keys')
    .option('--batch-size <n>', 'tasks per request (at most 1000)', (v) => Number(v), 1000)
    .option('--in-flight <n>', 'requests at a time', (v) => Number(v), 4)
    .action(async (file: string, o: { batchSize: number; inFlight: number }) => {
      const input = file === '-' ? io.stdin : createReadStream(file);
      const total = file === '-' ? undefined : await countLines(file);
      const bar =
        io.tty && !json()
          ? new cliProgress.SingleBar({ stream: process.stderr, format: '{bar} {value}/{total} tasks  {eta_formatted} left' }, cliProgress.Presets.shades_classic)
          : undefined;
      bar?.start(total ?? 0, 0);
      let summary: ImportSummary;
      try {
        summary = await importTasks(client(), input, {
          batchSize: Math.min(1000, Math.max(1, o.batchSize)),
          inFlight: Math.max(1, o.inFlight),
          onProgress: (d) => (total === undefined ? bar?.setTotal(d) : undefined, bar?.update(d)),
        });
      } finally {
        bar?.stop();
      }
      if (json()) io.out(JSON.stringify(summary, null, 2) + '\n');
      else {
        io.out(
          `${summary.lines} lines: ${summary.created} created, ${summary.replaced} replaced, ${summary.unchanged} unchanged, ${summary.rejected.length} rejected\n`,
        );
        for (const r of summary.rejected.slice(0, 50)) io.out(`  line ${r.line}: ${r.message}\n`);
        if (summary.rejected.length > 50) io.out(`  … and ${summary.rejected.length - 50} more (--json lists all)\n`);
        if (summary.withoutKey) io.out(`note: ${summary.withoutKey} lines have no "key"; running the import again creates them again\n`);
      }
      if (summary.rejected.length) process.exitCode = 1;
    });

  program
    .command('runs')
    .description('the execution log, newest first')
    .option('--task <idOrKey>', 'runs of this task (id or key)')
    .option('--prefix <keyPrefix>', "runs of tasks whose key starts with this (deleted tasks' too)")
    .option('--status <status>', 'pending, running, succeeded, failed or skipped')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .action(async (o: { task?: string; prefix?: string; status?: Run['status']; limit: number }) => {
      const c = client();
      const taskId = o.task ? (UUID.test(o.task) ? o.task : (await c.tasks.getByKey(o.task)).id) : undefined;
      const page = await c.runs.list({ taskId, keyPrefix: o.prefix, status: o.status, limit: o.limit });
      print(page, () => runRows(page.items));
    });

  return program;
}

/** Runs the CLI; errors become one line and an exit code, never a stack trace. */
export async function runCli(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  const program = buildCli(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return 0;
      if (err.code === 'sundial.usage') io.err(`sundial: ${err.message}\n`);
      return 2;
    }
    if (err instanceof SundialError) {
      const field = err.details?.field ? ` (${err.details.field})` : '';
      io.err(`sundial: ${err.status} ${err.code}: ${err.message}${field}\n`);
      return 1;
    }
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    if (cause === 'ECONNREFUSED') {
      io.err(`sundial: no Sundial node answers at ${program.opts<Globals>().url} (start one with "sundial serve", or pass --url)\n`);
      return 1;
    }
    io.err(`sundial: ${(err as Error).message}\n`);
    return 1;
  }
}
