-- Delivery: a lateness limit per task, redrives of failed webhook runs, and each
-- node's per-origin delivery state for the Targets view.

-- An occurrence whose first attempt would start more than this many ms after its time
-- is recorded skipped ("expired: …") instead of firing. NULL: no limit.
alter table tasks add column max_lateness_ms integer check (max_lateness_ms is null or max_lateness_ms >= 0);

-- A redrive is a new run of the same task linked to the failed run it retries. It sends
-- the original occurrence's Idempotency-Key (kept here), so a receiver that did process
-- the earlier attempt can tell. Only open redrives are looked up by retry_of (the 409).
-- No foreign key: pruning deletes old runs in batches, and a foreign key would make
-- every deleted row look up its referrers; a redrive outliving its pruned original
-- keeps the id as a plain record of where it came from.
alter table runs add column retry_of bigint;
alter table runs add column idempotency_key text;
create index runs_open_retry_idx on runs (retry_of) where retry_of is not null and status in ('pending', 'running');

-- Per-origin delivery state, written by each node at its heartbeat (a small JSON array),
-- merged over live nodes by GET /api/targets.
alter table nodes add column targets jsonb;
alter table nodes add column targets_at timestamptz;
