// Writes docs/benchmarks.md and docs/bench-*.svg from the harness's results. Never
// edit those files by hand: `npm run bench` (or `tsx bench/run.ts --report-only`)
// regenerates them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmtInt, fmtMs, type LagStats } from './lib.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface Results {
  mode: 'quick' | 'full';
  params: Record<string, any>;
  machine: Record<string, any>;
  notes: string[];
  command: string;
  sundialBuild?: string;
  date: string;
  pieces?: { command: string; date: string; loadAvg: number[]; engine?: string }[];
  workloads: Record<string, any>;
}

const label = (r: any) => `**${r.name}** ${r.settings ? `<br><sub>${r.settings}</sub>` : ''}`;
const rowsOf = (w: any): any[] => (w ? Object.values(w.rows ?? {}) : []);
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(0)} %`);
const num1 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(1));
/**
 * peer ÷ Sundial. Lags are stored to the millisecond, so a Sundial value under 1 ms counts
 * as 1 ms and the ratio is a lower bound (≥), as it is when the peer had not finished.
 */
const times = (peer: number, sundial: number, peerUnfinished = false) => {
  const r = peer / Math.max(1, sundial);
  const ge = peerUnfinished || sundial < 1 ? '≥ ' : '';
  return `${ge}${r >= 100 ? fmtInt(r) : r.toFixed(1)}×`;
};
const lagCells = (l: LagStats | null | undefined) =>
  l ? [fmtMs(l.p50), fmtMs(l.p99), fmtMs(l.p999), fmtMs(l.max)] : ['–', '–', '–', '–'];

function table(head: string[], rows: string[][]) {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const COLORS: Record<string, string> = {
  sundial: '#d9480f',
  graphile: '#74c0fc',
  'graphile-tuned': '#1864ab',
  pgboss: '#b2f2bb',
  'pgboss-tuned': '#2b8a3e',
  bullmq: '#d0bfff',
  'bullmq-tuned': '#6741d9',
};

/** Empirical CDF of lag per system, log-scaled lag axis. */
function cdfSvg(title: string, rows: any[]): string {
  const W = 880;
  const H = 380;
  const L = 60;
  const R = 340;
  const T = 40;
  const B = 50;
  const minX = 0.1;
  const maxLag = Math.max(1000, ...rows.flatMap((r) => (r.cdf ?? []).map((p: [number, number]) => p[0])));
  const maxX = 10 ** Math.ceil(Math.log10(maxLag));
  const x = (v: number) => L + ((Math.log10(Math.max(minX, v)) - Math.log10(minX)) / (Math.log10(maxX) - Math.log10(minX))) * (W - L - R);
  const y = (f: number) => T + (1 - f) * (H - T - B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="22" font-size="14" font-weight="bold">${title}</text>`,
  ];
  for (let e = Math.log10(minX); e <= Math.log10(maxX); e++) {
    const v = 10 ** e;
    const xx = x(v);
    out.push(`<line x1="${xx}" y1="${T}" x2="${xx}" y2="${H - B}" stroke="#eee"/>`);
    out.push(`<text x="${xx}" y="${H - B + 16}" text-anchor="middle">${fmtMs(v).replace('.0 ms', ' ms')}</text>`);
  }
  for (const f of [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
    out.push(`<line x1="${L}" y1="${y(f)}" x2="${W - R}" y2="${y(f)}" stroke="#eee"/>`);
    out.push(`<text x="${L - 6}" y="${y(f) + 4}" text-anchor="end">${f * 100}%</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">lag = start − scheduled time (log scale; ≤ 0.1 ms drawn at 0.1 ms)</text>`);
  out.push(`<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">share of all tasks started by this lag</text>`);
  rows.forEach((r, k) => {
    const pts: [number, number][] = r.cdf ?? [];
    const color = COLORS[r.id] ?? '#333';
    // the stored points are fractions of the tasks that started; the chart shows fractions
    // of all tasks, so a system that started few of them stays low instead of reaching 100 %
    const share = r.n ? (r.fired ?? 0) / r.n : 1;
    if (pts.length) {
      const d = pts.map(([v, f], j) => `${j ? 'L' : 'M'}${x(v).toFixed(1)},${y(f * share).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${r.id === 'sundial' ? 3 : 2}"/>`);
    }
    const ly = T + 10 + k * 20;
    out.push(`<line x1="${W - R + 12}" y1="${ly}" x2="${W - R + 32}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    const ran = !r.n ? '' : r.fired === r.n ? ' (all ran)' : ` (${fmtInt(r.fired)} of ${fmtInt(r.n)} ran)`;
    out.push(`<text x="${W - R + 38}" y="${ly + 4}">${r.name}${r.id.endsWith('-tuned') ? ' tuned' : r.id === 'sundial' ? '' : ' defaults'}${ran}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

export function writeReport(res: Results, root: string) {
  const P = res.params;
  const m = res.machine ?? {};
  const md: string[] = [];
  const burst = rowsOf(res.workloads.burst);
  const steady = rowsOf(res.workloads.steady);
  const sundialBurst = burst.find((r) => r.id === 'sundial');
  const sundialSteady = steady.find((r) => r.id === 'sundial');
  const ceilingRows: any[] = res.workloads.ceiling?.rows ?? [];
  const backlog = res.workloads.backlog;

  md.push('# Benchmarks');
  md.push('');
  md.push('<!-- Generated by bench/run.ts (bench/report.ts). Do not edit by hand: run `npm run bench` again. -->');
  md.push('');
  md.push(
    `Mode: **${res.mode}**${res.mode === 'quick' ? ' (smoke run with small sizes: figures show the harness works, not the targets)' : ''}. ` +
      (res.pieces?.length
        ? `Generated ${res.date.slice(0, 16).replace('T', ' ')} UTC by \`npm run bench\` in ${res.pieces.length} piece(s), listed below; the last was \`${res.command}\`. \`tsx bench/run.ts --report-only\` rewrites this page from \`bench/results/${res.mode}.json\`.`
        : `Generated ${res.date.slice(0, 16).replace('T', ' ')} UTC by \`${res.command}\`.`),
  );
  md.push('');
  md.push(
    `Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGb} GB memory; ${m.postgres} (embedded, default settings: fsync on, synchronous_commit on); ` +
      `Redis ${m.redis} (AOF, appendfsync everysec); Node ${m.node}. Peers: graphile-worker ${m.peers?.['graphile-worker']}, pg-boss ${m.peers?.['pg-boss']}, BullMQ ${m.peers?.bullmq} ` +
      '(the newest graphile-worker and pg-boss need Node ≥ 22).',
  );
  md.push('');
  const pieces = res.pieces ?? [];
  md.push(
    `**This machine has ${m.cores} cores and was shared, while this ran, with other engineers' test suites** (browser tests, \`npm ci\`, test databases): absolute figures move from run to run. ` +
      'Compare systems within one table (they ran one after another in the same piece, on the same PostgreSQL, each on a freshly created database) and read medians and ratios, not single absolute values. ' +
      'The load average is recorded at the start of every piece and of every measurement (column **load**, 1-minute load average; above 2 means processes were waiting for a core).',
  );
  if (pieces.length) {
    md.push(
      '',
      'The full run was split into pieces with `--only=` so each fits a 10-minute window; a later piece replaces that workload\'s figures (with `--systems=`, only those systems\' rows):',
      '',
      table(
        ['piece', 'started (UTC)', 'load average 1 / 5 / 15 min', 'Sundial engine (build)'],
        pieces.map((p) => [`\`${p.command}\``, p.date.slice(0, 19).replace('T', ' '), p.loadAvg.map((v) => v.toFixed(2)).join(' / '), p.engine ?? '–']),
      ),
    );
  }
  if (res.sundialBuild && res.sundialBuild !== 'this checkout') {
    md.push('', `Sundial ran from a build of the last commit (\`BENCH_SUNDIAL_ROOT=${res.sundialBuild}\`), because the shared \`dist/\` was being rebuilt from uncommitted work while this ran.`);
  }
  for (const n of res.notes ?? []) md.push('', `> ${n}`);
  md.push('');
  // end to end first: those are the figures a user gets
  md.push(E2E_START, ...e2eSection(root), TIMER_SIDE_NOTE, E2E_END);
  md.push('## How it is measured');
  md.push('');
  md.push(
    [
      '- **Lag** = (time the task\'s code started) − (its scheduled time), both from this machine\'s clock. Sundial: `runs.started_at − runs.scheduled_for`, read with SQL after the run (the `log` action stamps the start). Peers: the handler\'s first statement takes `Date.now()` and subtracts the due time carried in the payload. Percentiles are exact (nearest rank over the sorted lags), not bucketed.',
      '- Each system\'s worker side runs in a process of its own: **CPU s** is that process\'s user+system time over the measured phase, **PG CPU s** the PostgreSQL server\'s (postmaster, its backends and reaped children), **Redis CPU s** redis-server\'s; **peak RSS** is the worker process\'s resident set (sampled every 250 ms, and VmHWM).',
      '- Tasks are registered before T, untimed: the peers through their own bulk API (graphile-worker `addJobs`, pg-boss `insert`, BullMQ `addBulk`, chunks of 1,000–5,000), Sundial by an `insert … select from json_to_recordset` of the rows `POST /api/tasks` would store (kind `once`, `run_at` = `next_run_at` = T, state `active`), 20,000 rows per statement. Sundial\'s batch endpoint (`POST /api/tasks/batch`) is timed on its own: against the peers\' bulk calls in `npm run bench:bulk` ([api.md](api.md), "Measured"), and beside a steady stream in the import workload above.',
      '- "defaults" means the library\'s defaults; "tuned" is set for low latency as labelled. Sundial runs with its defaults.',
      '- A run stops waiting at a cap (burst: T + ' + fmtMs(P.burstCapMs) + '; steady: end + ' + fmtMs(P.steadyCapMs) + '); tasks not started by then count as **missing** (not lost: they had not run yet).',
    ].join('\n'),
  );

  // ---- burst
  md.push('', `## 1. Burst: ${fmtInt(P.burstN)} one-time tasks due at the same instant T`, '');
  if (!burst.length) md.push('Not measured.');
  else {
    md.push(
      table(
        ['system', 'started', 'twice', 'missing', 'first', 'p50', 'p99', 'p99.9', 'max = last = drain', 'CPU s', 'PG CPU s', 'Redis CPU s', 'peak RSS', 'lead', 'load'],
        burst.map((r) =>
          r.error
            ? [label(r), `failed: ${r.error}`, '', '', '', '', '', '', '', '', '', '', '', '', '']
            : [
                label(r),
                fmtInt(r.fired),
                fmtInt(r.dups),
                fmtInt(r.missing),
                fmtMs(r.lag?.min),
                ...lagCells(r.lag),
                num1(r.cpuS),
                num1(r.pgCpuS),
                r.id.startsWith('bullmq') ? num1(r.redisCpuS) : '–',
                `${fmtInt(r.peakRssMb)} MB`,
                fmtMs(r.leadMs),
                num1(r.loadAvg),
              ],
        ),
      ),
    );
    md.push(
      '',
      '**lead** = time from the start of the bulk insert to T: 15 s, longer only for a system whose bulk insert (calibrated just before with 5 % of the tasks) would not finish within it, so that every task is stored before T. ' +
        'Sundial claims ahead of time (`SUNDIAL_CLAIM_AHEAD_MS`, 45 s), so a longer lead could only help it' +
        (sundialBurst?.leadMs ? `; its lead was ${fmtMs(sundialBurst.leadMs)}.` : '.'),
    );
    const multi = burst.filter((r) => (r.samples?.length ?? 0) > 1);
    if (multi.length) {
      md.push('', 'Systems sampled more than once (`--repeat`): the table row is the median sample by drain; every sample:', '');
      md.push(
        table(
          ['system', 'samples: started / p50 / p99 / max (load)'],
          multi.map((r) => [label(r), r.samples.map((x: any) => `${fmtInt(x.fired)} / ${fmtMs(x.p50)} / ${fmtMs(x.p99)} / ${fmtMs(x.max)} (${num1(x.loadAvg)})`).join('<br>')]),
        ),
      );
    }
    if (sundialBurst?.lag) {
      md.push('', 'Side by side (peer ÷ Sundial; above 1 means Sundial is faster by that factor; a peer that did not start everything within the cap is marked ≥):', '');
      md.push(
        table(
          ['peer', 'p50', 'p99', 'drain'],
          burst
            .filter((r) => r.id !== 'sundial' && !r.error && r.lag)
            .map((r) => {
              const f = (k: string) => times(r.lag[k], sundialBurst.lag[k], r.missing > 0);
              return [label(r), f('p50'), f('p99'), f('max')];
            }),
        ),
      );
    }
    md.push('', 'Sundial\'s "started" counts runs whose start time has been *recorded* (`runs.started_at`); a run fired in memory but not yet written counts as missing. Peers count in the handler.');
    md.push('', '![Burst lag distribution](bench-burst.svg)');
    writeFileSync(join(root, 'docs', 'bench-burst.svg'), cdfSvg(`Burst: ${fmtInt(P.burstN)} tasks due at one instant`, burst.filter((r) => !r.error)));
    const best = burst
      .filter((r) => r.id !== 'sundial' && !r.error && r.missing === 0)
      .reduce((a, r) => (r.drainMs < (a?.drainMs ?? Infinity) ? r : a), undefined as any);
    if (sundialBurst && !sundialBurst.error && sundialBurst.lag) {
      md.push('');
      md.push(
        best
          ? `Timer-side drain (last \`log\` run's start − T, no HTTP): Sundial ${fmtMs(sundialBurst.drainMs)}, best peer that started everything (${best.name}, ${best.settings}) ${fmtMs(best.drainMs)}: peer ÷ Sundial = **${times(best.drainMs, sundialBurst.drainMs)}** (target ≥ 2×; below 1 the peer drained faster; Sundial's lags are stored to the millisecond, so under 1 ms counts as 1 ms).`
          : 'No peer started every task within the cap, so no peer drain to compare with.',
      );
    }
  }

  // ---- steady
  md.push('', `## 2. Steady: ${fmtInt(P.steadyRate)} occurrences a second for ${P.steadySec} s`, '');
  const steadyTables: [string, any[]][] = [[`${P.steadyRate}/s`, steady]];
  for (const rate of P.rates ?? []) steadyTables.push([`${rate}/s`, rowsOf(res.workloads[`steady${rate}`])]);
  if (!steady.length) md.push('Not measured.');
  for (const [name, rows] of steadyTables) {
    if (name !== `${P.steadyRate}/s`) {
      md.push('', `### Steady ${name} for ${P.ratesSec} s (Sundial and the tuned peers)`, '');
      if (!rows.length) {
        md.push('Not measured.');
        continue;
      }
    }
    if (!rows.length) continue;
    md.push(
      table(
        ['system', 'started', 'twice', 'missing', 'p50', 'p99', 'p99.9', 'max', 'CPU s', 'PG CPU s', 'Redis CPU s', 'peak RSS', 'load'],
        rows.map((r) =>
          r.error
            ? [label(r), `failed: ${r.error}`, '', '', '', '', '', '', '', '', '', '', '']
            : [
                label(r),
                `${fmtInt(r.fired)} / ${fmtInt(r.n)}`,
                fmtInt(r.dups),
                fmtInt(r.missing),
                ...lagCells(r.lag),
                num1(r.cpuS),
                num1(r.pgCpuS),
                r.id.startsWith('bullmq') ? num1(r.redisCpuS) : '–',
                `${fmtInt(r.peakRssMb)} MB`,
                num1(r.loadAvg),
              ],
        ),
      ),
    );
    const sd = rows.find((r) => r.id === 'sundial' && !r.error && r.lag);
    if (sd) {
      md.push(
        '',
        'Side by side (peer ÷ Sundial): ' +
          rows
            .filter((r) => r.id !== 'sundial' && !r.error && r.lag)
            .map((r) => `${r.name}${r.id.endsWith('-tuned') ? ' tuned' : ' defaults'} p50 ${times(r.lag.p50, sd.lag.p50, r.missing > 0)}, p99 ${times(r.lag.p99, sd.lag.p99, r.missing > 0)}`)
            .join('; ') +
          '.',
      );
    }
  }
  if (steady.length) {
    md.push('', '![Steady lag distribution](bench-steady.svg)');
    writeFileSync(join(root, 'docs', 'bench-steady.svg'), cdfSvg(`Steady: ${fmtInt(P.steadyRate)}/s for ${P.steadySec} s`, steady.filter((r) => !r.error)));
  }

  // ---- backlog
  md.push('', `## 3. Backlog: ${fmtInt(P.backlogN)} tasks due over the next 30 days stored, then steady ${fmtInt(P.steadyRate)}/s`, '');
  if (!backlog) md.push('Not measured.');
  else {
    const e = backlog.empty;
    const f = backlog.full;
    md.push(
      table(
        ['Sundial', 'started', 'p50', 'p99', 'p99.9', 'max', 'CPU s', 'PG CPU s', 'peak RSS', 'load'],
        [
          ['empty table', `${fmtInt(e.fired)} / ${fmtInt(e.n)}`, ...lagCells(e.lag), num1(e.cpuS), num1(e.pgCpuS), `${fmtInt(e.peakRssMb)} MB`, num1(e.loadAvg)],
          [`${fmtInt(backlog.backlogN)} stored`, `${fmtInt(f.fired)} / ${fmtInt(f.n)}`, ...lagCells(f.lag), num1(f.cpuS), num1(f.pgCpuS), `${fmtInt(f.peakRssMb)} MB`, num1(f.loadAvg)],
          ['ratio (stored ÷ empty)', '', ...['p50', 'p99', 'p999', 'max'].map((k) => (e.lag[k] >= 2 ? `${(f.lag[k] / e.lag[k]).toFixed(2)}×` : 'below resolution')), '', '', '', ''],
        ],
      ),
    );
    if (backlog.explain) {
      const x = backlog.explain;
      md.push(
        '',
        `The claim's scan with the ${fmtInt(backlog.backlogN)} future tasks stored (\`explain (analyze, buffers)\` of its select with a 30 s horizon, nothing due): index **${x.index}**, ${x.executionMs?.toFixed(2)} ms, ${fmtInt(x.sharedHit)} buffers hit, ${fmtInt(x.sharedRead)} read.`,
      );
    }
    md.push(
      '',
      'Sundial stores start and due times with millisecond resolution, so lags of 0–1 ms are at the resolution limit. The two runs ran one after the other; compare their load columns before reading the ratio as the backlog\'s effect. Peers with the same backlog: not measured (time).',
    );
  }

  // ---- recurring
  const rec = rowsOf(res.workloads.recurring);
  md.push('', `## 4. Recurring: ${fmtInt(P.recurringN)} cron schedules with a seconds field (\`*/10 * * * * *\`), ${P.recurringSec} s`, '');
  if (!rec.length) md.push('Not measured.');
  else {
    md.push(
      table(
        ['system', 'occurrences started', 'twice', 'missing', 'p50', 'p99', 'p99.9', 'max', 'drift (p50 last − first cycle)', 'CPU s', 'PG CPU s', 'peak RSS', 'load'],
        rec.map((r) =>
          r.error
            ? [label(r), `failed: ${r.error}`, '', '', '', '', '', '', '', '', '', '', '']
            : [label(r), `${fmtInt(r.fired)} / ${fmtInt(r.expected)}`, fmtInt(r.dups), fmtInt(r.missing), ...lagCells(r.lag), fmtMs(r.driftMs), num1(r.cpuS), num1(r.pgCpuS), `${fmtInt(r.peakRssMb)} MB`, num1(r.loadAvg)],
        ),
      ),
    );
    md.push(
      '',
      'graphile-worker (crontab) and pg-boss (`schedule`) have minute precision only: a schedule every 10 s cannot be expressed, so they are not in this table. ' +
        'BullMQ runs with job schedulers (`upsertJobScheduler`, pattern with seconds); its due time is the delayed job\'s timestamp + delay.',
    );
  }

  // ---- register
  const reg = rowsOf(res.workloads.register);
  md.push('', '## 5. Register: tasks created per second', '');
  md.push(
    'Single creates: Sundial\'s `POST /api/tasks` against each peer\'s one-job call. Sundial\'s batch endpoint (`POST /api/tasks/batch`, 1,000 tasks a request) is measured against the peers\' bulk calls on a million keyed tasks by `npm run bench:bulk` ([api.md](api.md), "Measured"), not here: the bulk column below is the burst\'s set-up insert, for Sundial the benchmark\'s own SQL insert of the rows the API stores (not a call a user makes), for the peers their client libraries\' bulk calls.',
    '',
  );
  if (!reg.length && !burst.length) md.push('Not measured.');
  else {
    const bulkOf = (id: string) => burst.find((b) => b.id === id && !b.error);
    const ids = reg.length ? reg : burst.filter((r) => !r.error && (r.id === 'sundial' || !r.id.endsWith('-tuned')));
    md.push(
      table(
        ['system', 'one at a time (sequential calls)', '16 calls in flight', `bulk (${fmtInt(P.burstN)} tasks)`, 'load'],
        ids.map((r) => {
          const b = bulkOf(r.id);
          return [
            `**${r.name}** <br><sub>${r.id === 'sundial' ? 'one: `POST /api/tasks`; bulk: SQL insert (set-up; the batch endpoint is timed in bench:bulk)' : r.id === 'graphile' ? 'one: `addJob`; bulk: `addJobs`' : r.id === 'pgboss' ? 'one: `send`; bulk: `insert`' : 'one: `queue.add`; bulk: `addBulk`'}</sub>`,
            r.error ? `failed: ${r.error}` : `${fmtInt(r.seqPerS ?? r.registerOnePerS)}/s`,
            r.parPerS ? `${fmtInt(r.parPerS)}/s` : 'not measured',
            b ? `${fmtInt(b.insertPerS)}/s${r.id === 'sundial' ? ' (SQL set-up)' : ''}` : 'not measured',
            num1(r.loadAvg),
          ];
        }),
      ),
    );
    md.push(
      '',
      reg.length
        ? `One at a time: ${fmtInt(reg[0].seqN)} sequential calls from one client process; in flight: ${fmtInt(reg[0].parN)} calls, ${reg[0].concurrency} at a time; tasks due tomorrow, on an empty database, the worker side running. Sundial's API rate limit (3,000 a minute per client by default) is switched off for the benchmark (\`SUNDIAL_RATE_LIMIT_PER_MINUTE=0\`). Bulk: the burst's insert.`
        : `One-at-a-time figures come from ${fmtInt(P.registerN)} sequential calls made before the burst (tasks due tomorrow); bulk from the burst's insert. The register workload itself was not measured.`,
    );
  }

  // ---- ceiling
  md.push('', '## 6. Ceiling: the claim-and-record cycle as plain SQL batches', '');
  const ceilS = ceilingRows.filter((r) => (r.variant ?? 'sundial') === 'sundial');
  const ceilL = ceilingRows.filter((r) => r.variant === 'lean');
  const bestOf = (rows: any[]) => rows.reduce((a, r) => (r.perS > (a?.perS ?? 0) ? r : a), undefined as any);
  const bestS = bestOf(ceilS);
  const bestL = bestOf(ceilL);
  if (!ceilingRows.length) md.push('Not measured.');
  else {
    md.push(
      `${fmtInt(P.ceilingN)} one-time tasks already due, claimed and recorded 1,000 per batch in a tight loop on 1, 2 or 4 connections, with no timers, HTTP, executor or scheduler around it. Two variants:`,
      '',
      `- **Sundial's statements**: the very functions the engine calls, imported from the build under test (\`dist/server/store/runs.js\`): \`occurrencesClaimDue\` (one transaction: select … \`for update skip locked\`, insert runs from one JSON parameter, advance tasks) and \`runsComplete\` (one transaction: \`set local enable_nestloop = off\`, fenced update by id, attempt and owner from one JSON parameter, one \`pg_notify\`). This is **not** an independent ceiling: it is Sundial's database work with everything else taken away, so "burst ÷ this" is the share of time the rest of the engine (timers, executor, recorder, scheduling between batches) costs.`,
      '- **Lean plain SQL**: what a hand-written queue would send for the same rows and indexes: one autocommit statement claims 1,000 due tasks with `for update skip locked`, ends them and inserts their runs (one CTE), one autocommit statement marks those runs succeeded by id. No transaction block, JSON, schedule evaluation, fence or NOTIFY: the closest to "what PostgreSQL itself allows" on this machine.',
      '',
    );
    md.push(
      table(
        ['variant', 'loops (connections)', 'rows/s', 'time', 'PG CPU s', 'claim batch p50', 'completion batch p50 / max', 'load'],
        ceilingRows.map((r) => [
          (r.variant ?? 'sundial') === 'sundial' ? "Sundial's statements" : 'lean plain SQL',
          String(r.loops),
          fmtInt(r.perS),
          fmtMs(r.ms),
          num1(r.pgCpuS),
          r.claimBatchMs ? fmtMs(r.claimBatchMs.p50) : '–',
          r.completeBatchMs ? `${fmtMs(r.completeBatchMs.p50)} / ${fmtMs(r.completeBatchMs.max)}` : '–',
          num1(r.loadAvg),
        ]),
      ),
    );
    if (bestS && bestL) md.push('', `Sundial's statements reach ${pct(bestS.perS / bestL.perS)} of the lean plain-SQL rate (best of each).`);
    const diag = ceilS.find((r) => r.completionPlan);
    if (diag) {
      md.push(
        '',
        `Where the database work goes (after the 1-loop run, ${fmtInt(P.ceilingN)} runs in the table): the fenced completion statement of \`runsComplete\` under \`explain (analyze, buffers, wal)\`, rolled back after measuring, on freshly claimed runs; "forced" is the engine's \`set local enable_nestloop = off\`, "planner's choice" the same statement without it:`,
        '',
        table(
          ['batch', 'joins', 'scan of runs', 'execution', 'WAL', 'buffers hit / dirtied'],
          Object.entries(diag.completionPlan as Record<string, any>).map(([k, v]) => [
            `${fmtInt(v.rows)} rows, ${k.includes('Planner') ? "planner's choice" : 'forced hash join'}${k.includes('Held') ? ', 31,000 open runs held by the node, runs analyzed' : ''}`,
            v.join ?? '–',
            v.runsScan || '–',
            fmtMs(v.executionMs),
            v.walBytes !== undefined ? `${fmtInt(v.walBytes / 1024)} kB in ${fmtInt(v.walRecords)} records` : '–',
            `${fmtInt(v.sharedHit)} / ${fmtInt(v.dirtied)}`,
          ]),
        ),
      );
      if (Array.isArray(diag.tables)) {
        md.push(
          '',
          'Row writes over the whole 1-loop run (`pg_stat_user_tables`): ' +
            diag.tables.map((t: any) => `${t.table}: ${fmtInt(t.inserted)} inserted, ${fmtInt(t.updated)} updated of which ${fmtInt(t.hot)} HOT (no index writes), ${t.indexes} indexes`).join('; ') +
            '. A non-HOT update writes a new entry in every index of the table.',
        );
      }
    }
    if (sundialBurst?.e2ePerS && sundialBurst.missing === 0) {
      md.push(
        '',
        `Sundial's burst end to end (first claim → every result stored): ${fmtInt(sundialBurst.e2ePerS)}/s = **${pct(sundialBurst.e2ePerS / (bestS?.perS ?? NaN))}** of its own statements' best rate (${fmtInt(bestS?.perS)}/s, ${bestS?.loops} loops)` +
          (bestL ? ` and ${pct(sundialBurst.e2ePerS / bestL.perS)} of the lean plain-SQL best (${fmtInt(bestL.perS)}/s, ${bestL.loops} loops)` : '') +
          '. The burst claims ahead from the moment its tasks are stored, so when claiming finishes before T this window includes time spent waiting for T, not only database work.' +
          (() => {
            const e = sundialBurst.engine;
            const q = e?.claimAheadMs;
            if (!q || !e.recordedAfterTMs) return '';
            const claimS = (q[2] - q[0]) / 1000;
            const claimRate = P.burstN / Math.max(0.001, claimS);
            const recRate = P.burstN / (e.recordedAfterTMs / 1000);
            return ` Its parts: claiming took ${claimS.toFixed(1)} s (${fmtInt(claimRate)}/s${bestL ? `, ${pct(claimRate / bestL.perS)} of lean` : ''}); every result was stored ${fmtMs(e.recordedAfterTMs)} after T (${fmtInt(recRate)}/s counted from T${bestL ? `, ${pct(recRate / bestL.perS)} of lean` : ''}).`;
          })() +
          (res.mode === 'quick' ? ' (Quick mode: the burst is small, so fixed delays dominate this ratio.)' : ''),
      );
    }
  }

  // ---- targets
  md.push('', '## Targets (Sundial, 2-core machine)', '');
  const t: string[][] = [];
  const yes = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? '**held**' : '**missed**');
  const s1 = sundialSteady?.lag;
  t.push([`Steady ${fmtInt(P.steadyRate)}/s: p99 ≤ 50 ms`, s1 ? fmtMs(s1.p99) : '–', yes(s1 ? s1.p99 <= 50 && sundialSteady.missing === 0 : undefined)]);
  const b = sundialBurst && !sundialBurst.error ? sundialBurst : undefined;
  t.push([`Burst ${fmtInt(P.burstN)}: all fired, none twice`, b ? `${fmtInt(b.fired)} started, ${b.dups} twice, ${b.missing} missing` : '–', yes(b ? b.missing === 0 && b.dups === 0 : undefined)]);
  t.push(['Burst: max lag ≤ 5 s', b ? fmtMs(b.lag?.max) : '–', yes(b ? b.lag?.max <= 5000 : undefined)]);
  const bestPeer = burst
    .filter((r) => r.id !== 'sundial' && !r.error && r.missing === 0)
    .reduce((a, r) => (r.drainMs < (a?.drainMs ?? Infinity) ? r : a), undefined as any);
  t.push([
    'Burst: drain ≥ 2× better than the best peer',
    b?.lag && bestPeer ? `${times(bestPeer.drainMs, b.drainMs)} (${bestPeer.name} ${bestPeer.id.endsWith('-tuned') ? 'tuned' : 'defaults'} ${fmtMs(bestPeer.drainMs)} ÷ Sundial ${fmtMs(b.drainMs)})` : '–',
    yes(b?.lag && bestPeer ? bestPeer.drainMs / Math.max(1, b.drainMs) >= 2 : undefined),
  ]);
  const ratio = backlog ? backlog.full.lag.p99 / backlog.empty.lag.p99 : undefined;
  t.push([`Backlog ${fmtInt(P.backlogN)}: lag within 1.2× of empty (p99)`, ratio ? `p99 ${fmtMs(backlog.full.lag.p99)} vs ${fmtMs(backlog.empty.lag.p99)} empty = ${ratio.toFixed(2)}×; p50 ${fmtMs(backlog.full.lag.p50)} vs ${fmtMs(backlog.empty.lag.p50)}` : '–', yes(ratio ? ratio <= 1.2 : undefined)]);
  const rssB = backlog?.full?.peakRssMb;
  t.push([`Backlog ${fmtInt(P.backlogN)}: a node's RSS < 250 MB`, rssB ? `${fmtInt(rssB)} MB peak` : '–', yes(rssB ? rssB < 250 : undefined)]);
  const rssWorst = Math.max(0, ...[b?.peakRssMb, sundialSteady?.peakRssMb].filter((v): v is number => v !== undefined));
  if (rssWorst) t.push(['(for reference) RSS in the burst and steady runs', `${fmtInt(b?.peakRssMb)} MB burst (median sample), ${fmtInt(sundialSteady?.peakRssMb)} MB steady`, rssWorst < 250 ? 'under 250 MB' : '**over 250 MB**']);
  const e2eS = b?.e2ePerS && b.missing === 0 && bestS ? b.e2ePerS / bestS.perS : undefined;
  const e2eL = b?.e2ePerS && b.missing === 0 && bestL ? b.e2ePerS / bestL.perS : undefined;
  t.push([
    'Burst end to end ≥ 50 % of the ceiling',
    e2eS || e2eL ? `${pct(e2eL)} of lean plain SQL; ${pct(e2eS)} of Sundial's own statements` : '–',
    yes(e2eL ?? e2eS ? (e2eL ?? e2eS)! >= 0.5 : undefined) + (e2eL ? ' (judged against lean plain SQL)' : ''),
  ]);
  md.push(table(['target', 'measured', ''], t));
  if (res.mode === 'quick') md.push('', 'Quick mode uses reduced sizes: these verdicts are not the targets\' verdicts.');

  // ---- why
  md.push('', '## Why it is fast, and what shows it', '');
  const e = sundialBurst?.engine;
  const se = sundialSteady?.engine;
  const c1 = ceilS.find((r) => r.loops === 1) ?? bestS;
  const rel = (v: number) => (v >= 0 ? `${fmtMs(v)} before` : `${fmtMs(-v)} after`);
  const ahead = (q: any) => (q ? `claimed between ${rel(q[2])} and ${rel(q[0])} its instant (median ${rel(q[1])})` : 'not measured');
  md.push(
    [
      `- **Claimed ahead in batches with \`FOR UPDATE SKIP LOCKED\`.** A node locks up to 1,000 due tasks per transaction (5,000 while claiming a burst ahead), inserts their runs and advances the tasks in one statement each (rows travel as one JSON parameter), so a task costs a thousandth of a round trip, and concurrent nodes skip each other's rows instead of waiting. ` +
        (e ? `In the burst the node made ${fmtInt(e.claimTransactions)} claim transactions of ${fmtInt(e.claimBatchMean)} runs on average.` : 'Burst counters: not measured.') +
        (c1?.claimBatchMs ? ` One claim transaction of 1,000 took ${fmtMs(c1.claimBatchMs.p50)} (median, ceiling, 1 loop).` : ''),
      `- **Held on timers, fired from memory.** What is claimed waits in memory on one timer over a heap and fires at its instant: the lag is timer precision, not a poll interval. ` +
        (sundialSteady?.lag ? `At ${fmtInt(P.steadyRate)}/s the median lag was ${fmtMs(sundialSteady.lag.p50)} (steady table), each run ${ahead(se?.claimAheadMs)}. ` : '') +
        'The peers on PostgreSQL find future work by polling (graphile-worker every 2 s, pg-boss every 2 s, at best 0.5 s) and claim it after it is due.',
      `- **Claim-ahead.** Whatever falls due within \`SUNDIAL_CLAIM_AHEAD_MS\` (45 s) is claimed early, each node its fair share, in transactions five times the usual batch, and held in memory (the buffer that keeps firing through a database failover). ` +
        (e ? `In the burst the first claim came ${fmtMs(e.firstClaimBeforeTMs)} before T; each run was ${ahead(e.claimAheadMs)}; the last result was stored ${fmtMs(e.recordedAfterTMs)} after T. Every run claimed before T fired at T from memory; lag above a few ms means the claim itself ran past T.` : 'Not measured.'),
      `- **Batched, fenced completion with a forced hash join.** The executor stamps the start and queues the result; the recorder writes up to 2,000 results per statement, fenced by owner and attempt, with \`enable_nestloop = off\` so the batch is hashed once (the planner's nested loop re-read the batch per run row: 1.5 s per 2,000-row batch before the fix). ` +
        (e ? `Burst: ${fmtInt(e.recordStatements)} completion statements of ${fmtInt(e.recordBatchMean)} results on average, ${fmtInt(e.fenced)} fenced. ` : '') +
        (c1?.completeBatchMs ? `Ceiling: one 1,000-row completion took ${fmtMs(c1.completeBatchMs.p50)} median, ${fmtMs(c1.completeBatchMs.max)} at most.` : ''),
      '- **Partial due index.** The claim reads `tasks_due_idx (next_run_at) where next_run_at is not null`: finished tasks leave the index, and future tasks sit past the horizon, so a large backlog is a deeper B-tree, not a longer scan. ' +
        (backlog?.explain ? `With ${fmtInt(backlog.backlogN)} stored the claim's scan took ${backlog.explain.executionMs?.toFixed(2)} ms on ${backlog.explain.index} (backlog section); p99 lag ${(backlog.full.lag.p99 / backlog.empty.lag.p99).toFixed(2)}× the empty table's.` : 'Backlog: not measured.'),
      '- **Exactly once by construction.** The unique key (task, scheduled time, trigger) makes a second run of an occurrence impossible, so no dedup work is on the hot path; every table above counts duplicates from the run log (Sundial) or the handler (peers).',
    ].join('\n'),
  );
  // ---- where it is not fast yet
  const notYet: string[] = [];
  if (b && b.e2ePerS && bestL && b.e2ePerS / bestL.perS < 0.5) {
    notYet.push(
      `- **Recording a burst runs below the plain-SQL rate.** After T the node stored ${fmtInt(P.burstN)} results in ${fmtMs(b.engine?.recordedAfterTMs)} (${fmtInt(P.burstN / ((b.engine?.recordedAfterTMs ?? NaN) / 1000))}/s), against ${fmtInt(bestL.perS)}/s for the lean claim-and-record cycle.`,
    );
  }
  const se2 = sundialSteady?.engine;
  if (se2?.recordBatchMean && se2.recordBatchMean < 50) {
    const gt = steady.find((r) => r.id === 'graphile-tuned' && !r.error);
    notYet.push(
      `- **At a steady rate the results go to PostgreSQL a few at a time.** At ${fmtInt(P.steadyRate)}/s the node wrote ${fmtInt(sundialSteady.n)} results in ${fmtInt(se2.recordStatements)} completion transactions of ${num1(se2.recordBatchMean)} on average (each a transaction, a WAL flush and a NOTIFY), ` +
        `and PostgreSQL spent ${num1(sundialSteady.pgCpuS)} CPU s over the run${gt ? ` against ${num1(gt.pgCpuS)} s for graphile-worker tuned (batched completion)` : ''}. ` +
        'The recorder waits 25 ms to gather a batch only when it is idle; when a statement finishes and results are queued it sends them at once, so under a steady stream a batch is what arrived during one statement. The lag is unaffected (the start is stamped before recording), the cost is database CPU on a 2-core machine.',
    );
  }
  for (const rate of P.rates ?? []) {
    const sr = rowsOf(res.workloads[`steady${rate}`]).find((r) => r.id === 'sundial' && !r.error);
    if (sr && sr.missing > 0) {
      notYet.push(
        `- **At ${fmtInt(rate)}/s recording falls behind.** ${fmtInt(sr.fired)} of ${fmtInt(sr.n)} runs had their start recorded by the end of the run + ${fmtMs(P.steadyCapMs)} (PostgreSQL ${num1(sr.pgCpuS)} CPU s, peak RSS ${fmtInt(sr.peakRssMb)} MB); the recorded ones had p99 ${fmtMs(sr.lag?.p99)}. Runs fired in memory but not yet written count as missing here.`,
      );
    }
  }
  const cp = ceilS.find((r) => r.completionPlan)?.completionPlan;
  if (cp?.batch10?.runsScan?.includes('filtered out')) {
    notYet.push(
      `- **A completion can read every open run of its node.** In the ceiling, before \`runs\` had statistics, completing 10 results scanned the node's open runs through its owner index and filtered them by id: ${cp.batch10.runsScan} (${fmtMs(cp.batch10.executionMs)}). ` +
        (cp.batch10Held31000 ? `After \`analyze runs\` the planner used the primary key even with 31,000 runs held (${cp.batch10Held31000.runsScan}, ${fmtMs(cp.batch10Held31000.executionMs)}). ` : '') +
        'A node that claims 30 s ahead holds tens of thousands of open runs, and a freshly loaded \`runs\` table has no statistics until autovacuum analyzes it, so each completion statement can pay for all of them.',
    );
  }
  if (notYet.length) md.push('', '## Where it is not fast yet', '', notYet.join('\n'));
  md.push('');
  writeFileSync(join(root, 'docs', 'benchmarks.md'), md.join('\n'));
}

// ------------------------------------------------------------------ end to end

type E2ERowLike = {
  id: string; name: string; settings: string; n: number; received: number; dups: number; missing: number;
  lag: { p50: number; p99: number; max: number } | null; peakRssMb: number; rssBeforeTMb?: number; loadAvg: number; failed?: number; hung?: number;
  sysCpuFromTS?: number; receiverCpuFromTS?: number; engine?: Record<string, any>; round: number;
};

const median = (v: number[]) => {
  const a = [...v].sort((x, y) => x - y);
  return a.length ? (a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2) : NaN;
};

/**
 * The end-to-end section (bench/e2e.ts, bench/results/e2e.json): every execution is an
 * HTTP POST to a receiver in its own process, and lag is what the receiver saw.
 */
export function e2eSection(root: string): string[] {
  const file = join(root, 'bench', 'results', 'e2e.json');
  if (!existsSync(file)) return [];
  const r = JSON.parse(readFileSync(file, 'utf8')) as { date: string; command: string; machine: any; params: any; engines?: Record<string, string>; burst?: E2ERowLike[]; hung?: { pairs: { without: E2ERowLike; with: E2ERowLike }[] }; steady?: E2ERowLike[]; import?: { pairs: { without: ImportRowLike; with: ImportRowLike }[] } };
  const P = r.params;
  const md: string[] = [];
  md.push('## End to end: what a receiver saw');
  md.push('');
  md.push(
    `Generated ${r.date.slice(0, 16).replace('T', ' ')} UTC by \`${r.command}\` (${engineNote(r)}). ` +
      'Every execution is an HTTP POST of `{"i","due"}` to a receiver running in a process of its own (bench/receiver.mjs), which reads its clock when the request has arrived: **lag = arrival − due**, the same measurement for every system. ' +
      'Sundial runs webhook tasks (`SUNDIAL_WEBHOOK_ALLOW=127.0.0.1/32`, otherwise defaults); each peer\'s handler POSTs the same body through Node\'s `fetch` (undici, keep-alive) and awaits the answer. ' +
      'Systems ran one after another on the same PostgreSQL/Redis, each on a fresh database. **CPU after T** is the system\'s process from the due instant to the last arrival; **receiver CPU** the receiver\'s over the same window.',
  );
  const all = [...(r.burst ?? []), ...(r.hung?.pairs.flatMap((p) => [p.without, p.with]) ?? []), ...(r.steady ?? [])].filter((x) => x.loadAvg);
  if (all.length) {
    const loads = all.map((x) => x.loadAvg);
    const sCpu = all.filter((x) => x.id === 'sundial' && x.n === P.burstN && x.sysCpuFromTS).map((x) => x.sysCpuFromTS!);
    md.push('', `**Load while this ran: 1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${r.machine?.cores ?? 2} cores** (whatever else ran on the machine; above ${r.machine?.cores ?? 2} processes wait for a core). Wall-clock figures move with it from round to round${sCpu.length ? ` while the CPU Sundial spent on a 20,000 burst stayed ${Math.min(...sCpu).toFixed(1)}–${Math.max(...sCpu).toFixed(1)} s` : ''}. Compare systems within a round and read medians and the CPU column.`);
  }
  md.push('');
  md.push('For scale: a bare undici `Pool` with keep-alive (16–64 connections), no scheduler at all, sends 20,000 such POSTs to this receiver in 1.1–1.3 s on an idle machine of this kind and 1.4–4.7 s while other work loads it (measured here during these runs); that client alone uses ~1.05 CPU s.');
  const row = (x: E2ERowLike) => [
    `**${x.name}** <br><sub>${x.settings}</sub>`,
    `${fmtInt(x.received)} / ${fmtInt(x.n)}`,
    String(x.dups),
    fmtMs(x.lag?.p50),
    fmtMs(x.lag?.p99),
    fmtMs(x.lag?.max),
    x.failed === undefined ? '–' : String(x.failed),
    x.sysCpuFromTS?.toFixed(1) ?? '–',
    x.receiverCpuFromTS?.toFixed(1) ?? '–',
    `${x.peakRssMb.toFixed(0)} MB`,
    x.loadAvg.toFixed(1),
  ];
  const head = ['system', 'received', 'twice', 'p50', 'p99', 'max (drain)', 'failed', 'CPU s after T', 'receiver CPU s', 'peak RSS', 'load'];
  const targets: string[][] = [];
  const held = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? '**held**' : '**missed**');
  if (r.burst?.length) {
    md.push('', `### Burst: ${fmtInt(P.burstN)} webhooks due at one instant`, '');
    md.push(table(head, r.burst.map(row)));
    const ids = [...new Set(r.burst.map((x) => x.id))];
    const med = new Map(ids.map((id) => {
      const rows = r.burst!.filter((x) => x.id === id && x.lag);
      return [id, { max: median(rows.map((x) => x.lag!.max)), p99: median(rows.map((x) => x.lag!.p99)), rows }];
    }));
    const s = med.get('sundial');
    // a round in which a peer had not delivered everything by the cap counts with its max at
    // the cap: a lower bound of its drain (marked ≥)
    const peers = ids.filter((id) => id !== 'sundial' && med.get(id)!.rows.length);
    const ge = (id: string) => (med.get(id)!.rows.some((x) => x.missing > 0) ? '≥ ' : '');
    const best = [...peers].sort((a, b) => med.get(a)!.max - med.get(b)!.max)[0];
    if (s && best) {
      const b = med.get(best)!;
      md.push('', `Peer ÷ Sundial, medians over ${s.rows.length} interleaved round(s) (≥: in some round the peer had not delivered everything by the 30 s cap, so its drain is a lower bound): ${peers.map((id) => `${med.get(id)!.rows[0]!.name} ${ge(id)}${(med.get(id)!.max / s.max).toFixed(1)}× (drain ${ge(id)}${fmtMs(med.get(id)!.max)}), ${ge(id)}${(med.get(id)!.p99 / s.p99).toFixed(1)}× (p99)`).join('; ')}; Sundial's median drain ${fmtMs(s.max)}, p99 ${fmtMs(s.p99)}.`);
      targets.push([`Burst ${fmtInt(P.burstN)}: all arrive once`, `${s.rows.map((x) => `${fmtInt(x.received)}, ${x.dups} twice`).join('; ')}`, held(s.rows.every((x) => x.missing === 0 && x.dups === 0))]);
      targets.push(['Burst: receiver-observed max ≤ 2 s', `median ${fmtMs(s.max)} (rounds: ${s.rows.map((x) => fmtMs(x.lag!.max)).join(', ')})`, held(s.max <= 2000)]);
      targets.push(['Burst: drain ≥ 2× faster than the best tuned peer', `${ge(best)}${(b.max / s.max).toFixed(1)}× (${b.rows[0]!.name} ${ge(best)}${fmtMs(b.max)} ÷ Sundial ${fmtMs(s.max)}, medians)`, held(b.max / s.max >= 2)]);
      // every 20,000 burst Sundial ran here, the hung-receiver pairs' too
      const bursts = [...s.rows, ...(r.hung?.pairs.flatMap((p) => [p.without, p.with]) ?? [])];
      const rss = Math.max(...bursts.map((x) => x.peakRssMb));
      targets.push(['Burst: node RSS < 300 MB', `${rss.toFixed(0)} MB (highest peak of ${bursts.length} bursts, VmHWM; ${Math.min(...bursts.map((x) => x.rssBeforeTMb ?? Infinity)).toFixed(0)}–${Math.max(...bursts.map((x) => x.rssBeforeTMb ?? 0)).toFixed(0)} MB just before T, holding the claimed burst)`, held(rss < 300)]);
    }
    const own = s?.rows[0]?.engine?.startedAfterTMs;
    if (own) md.push('', `Sundial's own record of the same runs (\`startedAt\` − T, taken as each first request went out): p50 ${fmtMs(own[0])}, p99 ${fmtMs(own[1])}, max ${fmtMs(own[2])}; the receiver saw p50 ${fmtMs(s!.rows[0]!.lag?.p50)}, max ${fmtMs(s!.rows[0]!.lag?.max)}.`);
  }
  if (r.hung?.pairs.length) {
    const pairs = r.hung.pairs;
    md.push('', `### A hung receiver: ${fmtInt(P.burstN)} healthy webhooks, without and with ${fmtInt(P.hungN)} more aimed at a receiver that accepts and never answers (Sundial, ${pairs.length} interleaved pairs)`, '');
    md.push(table(['pair', 'healthy p50 without', 'p99 without', 'max without', 'healthy p50 with', 'p99 with', 'max with', 'p99 with ÷ without', 'healthy failed (with)', 'hung requests seen'], pairs.map((p, i) => [
      String(i + 1), fmtMs(p.without.lag?.p50), fmtMs(p.without.lag?.p99), fmtMs(p.without.lag?.max), fmtMs(p.with.lag?.p50), fmtMs(p.with.lag?.p99), fmtMs(p.with.lag?.max),
      p.without.lag && p.with.lag ? `${(p.with.lag.p99 / p.without.lag.p99).toFixed(2)}×` : '–', String(p.with.failed ?? '–'), String(p.with.hung ?? '–'),
    ])));
    const ratios = pairs.filter((p) => p.without.lag && p.with.lag).map((p) => p.with.lag!.p99 / p.without.lag!.p99);
    const m = median(ratios);
    md.push('', `Median of the per-pair ratios: **${m.toFixed(2)}×**. The hung origin holds at most its per-origin cap of slots (64) for its timeout (10 s, 3 attempts), then its circuit opens; the healthy origin keeps its own slots.`);
    targets.push([`Hung receiver: healthy p99 within 1.25× (median of ${pairs.length} pairs)`, `${m.toFixed(2)}×`, held(m <= 1.25)]);
    const failedOnly = pairs.reduce((a, p) => a + (p.with.failed ?? 0), 0);
    const late = pairs.reduce((a, p) => a + p.with.missing, 0);
    targets.push(['Hung receiver: no healthy delivery failed', `${failedOnly} failed${late ? `; ${fmtInt(late)} were still on their way when the measurement stopped at the 30 s cap` : ''}`, held(failedOnly === 0)]);
  }
  if (r.steady?.length) {
    md.push('', `### Steady: ${fmtInt(P.steadyRate)} webhooks a second for ${P.steadySec} s`, '');
    md.push(table(head, r.steady.map(row)));
    const s = r.steady.find((x) => x.id === 'sundial');
    const peers = r.steady.filter((x) => x.id !== 'sundial' && x.lag);
    if (s?.lag && peers.length) md.push('', `Peer ÷ Sundial p99 (≥: the peer had not delivered everything by the cap): ${peers.map((x) => `${x.name} ${x.missing ? '≥ ' : ''}${(x.lag!.p99 / Math.max(1, s.lag!.p99)).toFixed(1)}×`).join('; ')}.`);
    if (s) targets.push([`Steady ${fmtInt(P.steadyRate)}/s: receiver-observed p99 ≤ 50 ms`, fmtMs(s.lag?.p99), held(s.lag ? s.lag.p99 <= 50 && s.missing === 0 : undefined)]);
  }
  if (r.import?.pairs.length) {
    const pairs = r.import.pairs;
    md.push('', `### A bulk import beside a steady stream: ${fmtInt(P.steadyRate)} webhooks a second for ${P.steadySec} s, without and with ${fmtInt(P.importN)} webhook tasks loaded through the batch API (Sundial, ${pairs.length} interleaved pairs)`, '');
    md.push('The import starts 5 s into the stream: keyed tasks, 1,000 a request (`Prefer: return=minimal`), 4 requests in flight, each a webhook to the same receiver, due spread evenly over the hour after the import starts (~278 a second), so some fall due inside the window: while the import is still loading and after it has finished. When the stream ends the run goes on for a minute with only the imported tasks falling due ("then imported only"): their p99, and the node\'s highest RSS over that minute and over its second half (past what the stream and the import left behind), are the target\'s "those tasks fire … node RSS < 300 MB". The higher figures while the import loads, and for a few seconds after it, are the batch threads\' heaps (api/batch-thread.ts): each thread is a V8 isolate of its own, ~85–95 MB while it works, and ends 5 s after its last batch. \`node bench/import-rss.mjs\` (1,000,000 keyed webhook tasks, nothing else running, VmRSS and the thread count every 2 s): 144 MB before, 340–405 MB with two threads, 280–300 MB with one, 199–201 MB with none, the steps falling where the threads end.', '');
    md.push(table(['pair', 'steady p50 / p99 / max without', 'steady p50 / p99 / max with', 'p99 with ÷ without', 'import took', 'imported due in the window, while loading: received, p99', 'after it: received, p99, max', 'then imported only: received, p99, RSS', 'twice', 'peak RSS without / with', 'RSS after the import', 'load'], pairs.map((p, i) => {
      const a = p.without.steady.lag, b = p.with.steady.lag, im = p.with.imported;
      return [
        String(i + 1),
        `${fmtMs(a?.p50)} / ${fmtMs(a?.p99)} / ${fmtMs(a?.max)}`,
        `${fmtMs(b?.p50)} / ${fmtMs(b?.p99)} / ${fmtMs(b?.max)}`,
        a && b ? `${(b.p99 / Math.max(1, a.p99)).toFixed(2)}×` : '–',
        im ? `${im.loadS.toFixed(1)} s` : '–',
        im ? `${fmtInt(im.whileLoading.received)} / ${fmtInt(im.whileLoading.due)}, ${fmtMs(im.whileLoading.lag?.p99)}` : '–',
        im ? `${fmtInt(im.after.received)} / ${fmtInt(im.after.due)}, ${fmtMs(im.after.lag?.p99)}, ${fmtMs(im.after.lag?.max)}` : '–',
        im?.tail ? `${fmtInt(im.tail.received)} / ${fmtInt(im.tail.due)}, ${fmtMs(im.tail.lag?.p99)}, ${im.tail.rssMaxMb.toFixed(0)} MB (${im.tail.rssSettledMb?.toFixed(0) ?? '–'} MB in its second half)` : '–',
        `${p.without.steady.dups} / ${p.with.steady.dups}`,
        `${p.without.peakRssMb.toFixed(0)} / ${p.with.peakRssMb.toFixed(0)} MB`,
        im?.rssAfterMb ? `${im.rssAfterMb.toFixed(0)} MB` : '–',
        `${p.without.loadAvg.toFixed(1)} / ${p.with.loadAvg.toFixed(1)}`,
      ];
    })));
    const ok = pairs.filter((p) => p.without.steady.lag && p.with.steady.lag);
    const steadyRatio = median(ok.map((p) => p.with.steady.lag!.p99 / Math.max(1, p.without.steady.lag!.p99)));
    const firedRatio = median(ok.filter((p) => p.with.imported?.after.lag).map((p) => p.with.imported!.after.lag!.p99 / Math.max(1, p.without.steady.lag!.p99)));
    const steadyP99 = median(ok.map((p) => p.with.steady.lag!.p99));
    const lost = pairs.reduce((a, p) => a + (p.with.steady.n - p.with.steady.received) + (p.with.imported ? p.with.imported.whileLoading.due - p.with.imported.whileLoading.received + p.with.imported.after.due - p.with.imported.after.received + (p.with.imported.tail ? p.with.imported.tail.due - p.with.imported.tail.received : 0) : 0), 0);
    const rss = Math.max(...pairs.map((p) => p.with.peakRssMb));
    const rssAfter = Math.max(...pairs.map((p) => p.with.imported?.rssAfterMb ?? 0));
    const tails = ok.filter((p) => p.with.imported?.tail?.lag);
    const tailRatio = median(tails.map((p) => p.with.imported!.tail!.lag!.p99 / Math.max(1, p.without.steady.lag!.p99)));
    const tailRss = Math.max(0, ...tails.map((p) => p.with.imported!.tail!.rssMaxMb));
    const settledRss = Math.max(0, ...tails.map((p) => p.with.imported!.tail!.rssSettledMb ?? p.with.imported!.tail!.rssMaxMb));
    const tailSec = tails[0]?.with.imported!.tail!.seconds ?? 0;
    const shared = ok.filter((p) => p.with.lateShare && p.without.lateShare);
    if (shared.length) {
      const pc = (v: number) => `${(v * 100).toFixed(2)} %`;
      const m = (f: (p: (typeof shared)[number]) => number) => pc(median(shared.map(f)));
      md.push('', `Where the late ones were late (medians of the pairs; the deliveries due in the stream's window, stream and imported): later than 10 ms when the request left the node (Sundial's own \`sundial_fire_lag_seconds\`, taken as each request goes out) ${m((p) => p.without.lateShare!.over10ms.node)} without the import and ${m((p) => p.with.lateShare!.over10ms.node)} with it; later than 10 ms at the receiver ${m((p) => p.without.lateShare!.over10ms.receiver)} and ${m((p) => p.with.lateShare!.over10ms.receiver)}. Later than 25 ms: at the node ${m((p) => p.without.lateShare!.over25ms.node)} and ${m((p) => p.with.lateShare!.over25ms.node)}, at the receiver ${m((p) => p.without.lateShare!.over25ms.receiver)} and ${m((p) => p.with.lateShare!.over25ms.receiver)}.`);
    }
    md.push('', `Medians of the pairs: the steady stream's p99 with the import beside it is **${steadyRatio.toFixed(2)}×** the run without (${fmtMs(steadyP99)}); the imported tasks that fell due after the import had finished fired at **${Number.isFinite(firedRatio) ? firedRatio.toFixed(2) : '–'}×** the steady p99 without it.`);
    targets.push([`Import of ${fmtInt(P.importN)} beside a steady ${fmtInt(P.steadyRate)}/s: the stream stays within its p99 target (≤ 50 ms)`, `${fmtMs(steadyP99)} (median of ${ok.length} pairs)`, held(ok.length ? steadyP99 <= 50 : undefined)]);
    targets.push(['… and its p99 unchanged (within 1.5× of the run without)', `${steadyRatio.toFixed(2)}×`, held(ok.length ? steadyRatio <= 1.5 : undefined)]);
    if (tails.length) {
      targets.push(['Imported tasks fire with the steady p99 within 1.5×', `${tailRatio.toFixed(2)}× (alone, after the stream; ${Number.isFinite(firedRatio) ? `${firedRatio.toFixed(2)}× beside it` : 'none due beside it'})`, held(tailRatio <= 1.5)]);
      targets.push(['While they fire: node RSS < 300 MB', `${settledRss.toFixed(0)} MB at most over the last ${tailSec / 2} s of the ${tailSec} s with only them due; ${tailRss.toFixed(0)} MB over all ${tailSec} s (what the stream and the import left), ${rssAfter ? `${rssAfter.toFixed(0)} MB beside the stream after the import, ` : ''}${rss.toFixed(0)} MB peak while it loaded`, held(settledRss < 300)]);
    } else {
      targets.push(['Imported tasks fire with the steady p99 within 1.5×', Number.isFinite(firedRatio) ? `${firedRatio.toFixed(2)}× (those due after the import finished)` : 'none fell due after the import', held(Number.isFinite(firedRatio) ? firedRatio <= 1.5 : undefined)]);
      targets.push(['While they fire: node RSS < 300 MB', `${rssAfter.toFixed(0)} MB at most after the import (${rss.toFixed(0)} MB peak while it loaded, beside the steady stream)`, held(rssAfter ? rssAfter < 300 : undefined)]);
    }
    targets.push(['Import: nothing lost', `${lost} missing`, held(lost === 0)]);
  }
  if (targets.length) md.push('', '### End-to-end targets', '', table(['target', 'measured (receiver-observed)', ''], targets));
  md.push('');
  return md;
}

/** "Sundial engine X", or per workload when the workloads ran on different engines. */
function engineNote(r: { machine: any; engines?: Record<string, string> }): string {
  const byEngine = new Map<string, string[]>();
  for (const [w, e] of Object.entries(r.engines ?? {})) byEngine.set(e, [...(byEngine.get(e) ?? []), w]);
  if (byEngine.size <= 1) return `Sundial engine ${[...byEngine.keys()][0] ?? r.machine?.engine ?? '?'}`;
  return `Sundial engine ${[...byEngine].map(([e, ws]) => `${e} for ${ws.join(', ')}`).join('; ')}`;
}

interface ImportRowLike {
  steady: { n: number; received: number; dups: number; lag: { p50: number; p99: number; max: number } | null };
  lateShare?: Record<'over10ms' | 'over25ms', { node: number; receiver: number }>;
  imported?: { n: number; loadS: number; whileLoading: { due: number; received: number; lag: { p99: number } | null }; after: { due: number; received: number; lag: { p99: number; max: number } | null }; rssAfterMb?: number; tail?: { seconds: number; due: number; received: number; lag: { p99: number; max: number } | null; rssMaxMb: number; rssSettledMb?: number } };
  peakRssMb: number;
  loadAvg: number;
}

const E2E_START = '<!-- e2e:start (bench/run.ts --e2e rewrites this part) -->';
const E2E_END = '<!-- e2e:end -->';
const TIMER_SIDE_NOTE =
  '## Timer-side workloads (`log` action)\n\nThe workloads from here on run `log` tasks, whose whole execution is recording that they started: their lag is taken at Sundial\'s timer (the moment each run is executed in memory), not where any work happens, while the peers\' lag is taken in their handlers. They measure the scheduling engine alone, not delivery; the end-to-end section above is what a receiver sees. Ratios below compare these timer-side figures and must not be quoted as end-to-end ones.\n';

/**
 * Without a full run's results (bench/results/full.json is not kept in git), the
 * end-to-end section replaces its part of docs/benchmarks.md and the rest stays.
 */
export function writeE2EOnly(root: string) {
  const path = join(root, 'docs', 'benchmarks.md');
  const page = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n\n## How it is measured\n';
  const section = [E2E_START, ...e2eSection(root), TIMER_SIDE_NOTE, E2E_END].join('\n');
  const a = page.indexOf(E2E_START);
  const b = page.indexOf(E2E_END);
  let out: string;
  if (a >= 0 && b > a) out = page.slice(0, a) + section + page.slice(b + E2E_END.length);
  else {
    const at = page.indexOf('## How it is measured');
    out = at >= 0 ? `${page.slice(0, at)}${section}\n\n${page.slice(at)}` : `${page}\n${section}\n`;
  }
  writeFileSync(path, out);
}
