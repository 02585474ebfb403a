-- Sundial schema v1. Three tables: tasks (what to fire and when next), runs (one row
-- per occurrence: the execution log and the claim), nodes (membership and leases).

create table tasks (
  id               uuid primary key default gen_random_uuid(),
  name             text not null,
  kind             text not null check (kind in ('once', 'cron')),
  run_at           timestamptz,                 -- once: the instant
  cron_expression  text,                        -- cron: the expression
  timezone         text not null default 'UTC',
  start_at         timestamptz,
  end_at           timestamptz,
  payload          jsonb,                       -- any JSON value; SQL NULL stands for JSON null
  action           jsonb not null default '{"type":"log"}',
  misfire_policy   text not null default 'fire_once' check (misfire_policy in ('fire_once', 'skip')),
  state            text not null default 'active' check (state in ('active', 'paused', 'completed', 'deleted')),
  -- The next occurrence not yet turned into a run. NULL when nothing is left to claim
  -- (paused, completed, deleted). Claiming moves it forward in the same transaction
  -- that inserts the run, so an occurrence is claimed by exactly one node.
  next_run_at      timestamptz,
  version          integer not null default 1,
  idempotency_key  text unique,
  idempotency_hash text,                        -- the create request it answered
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  deleted_at       timestamptz,
  check ((kind = 'once') = (run_at is not null)),
  check ((kind = 'cron') = (cron_expression is not null))
);

-- The claim scans only tasks with something left to fire: partial, so a million
-- completed or paused tasks cost nothing on the hot path.
create index tasks_due_idx on tasks (next_run_at) where next_run_at is not null;
create index tasks_created_idx on tasks (created_at desc, id desc) where state <> 'deleted';

create table nodes (
  id            text primary key,
  host          text not null,
  pid           integer not null,
  version       text not null,
  started_at    timestamptz not null default now(),
  heartbeat_at  timestamptz not null default now(),
  -- A node owns its claimed runs while lease_until is in the future; each heartbeat
  -- extends it. After it lapses, any node may take the runs over (with attempt + 1).
  lease_until   timestamptz not null,
  stopped_at    timestamptz
);

create table runs (
  id             bigint generated always as identity primary key,
  task_id        uuid not null references tasks (id),
  scheduled_for  timestamptz not null,
  trigger        text not null default 'schedule' check (trigger in ('schedule', 'manual')),
  status         text not null check (status in ('pending', 'running', 'succeeded', 'failed', 'skipped')),
  reason         text,
  late           boolean not null default false,
  attempt        integer not null default 0,   -- incremented by every claim; fences results
  node_id        text,                         -- owner while pending/running
  claimed_at     timestamptz,
  started_at     timestamptz,
  finished_at    timestamptz,
  created_at     timestamptz not null default now()
);

-- One run per scheduled occurrence, whatever the nodes do. Manual triggers are
-- extra executions by request and are not keyed by their instant.
create unique index runs_occurrence_uidx on runs (task_id, scheduled_for) where trigger = 'schedule';
-- Unfinished runs: the rescuer's and the manual-trigger claimer's scan. Tiny: only
-- what is in flight.
create index runs_open_idx on runs (scheduled_for) where status in ('pending', 'running');
-- The execution log: newest first, per task, and globally.
create index runs_log_idx on runs (scheduled_for desc, id desc);
create index runs_task_log_idx on runs (task_id, scheduled_for desc, id desc);
create index runs_finished_idx on runs (finished_at) where finished_at is not null;

-- Housekeeping that must run on one node at a time (pruning) is led by whoever
-- holds this lease.
create table leader_leases (
  name        text primary key,
  node_id     text not null,
  lease_until timestamptz not null
);
