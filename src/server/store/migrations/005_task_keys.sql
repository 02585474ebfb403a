-- Client keys: a task may carry a key chosen by its client (e.g. "user-42/reminder-7"),
-- so a backend addresses its tasks by its own names and finds or cancels all of a
-- user's tasks by prefix.
alter table tasks add column key text;

-- Unique among tasks that are not deleted: deleting frees the key for reuse while the
-- deleted row keeps its value, so the runs of a departed user stay findable by prefix.
-- COLLATE "C" orders keys bytewise, so a prefix is one index range
-- (key >= 'user-42/' and key < 'user-420'), whatever the database's default collation.
create unique index tasks_key_uidx on tasks (key collate "C") where state <> 'deleted' and key is not null;
-- Every keyed task, deleted ones included: the runs filter `?keyPrefix=` reaches history.
create index tasks_key_all_idx on tasks (key collate "C") where key is not null and state = 'deleted';

-- Answers to batch creates sent with an Idempotency-Key: a replay returns the first
-- answer. Kept a day (pruned by the batch path itself).
create table task_batches (
  idempotency_key text primary key,
  request_hash    text not null,
  status          integer not null,
  response        jsonb not null,
  created_at      timestamptz not null default now()
);

-- The idempotency key is set on few tasks: index only those. The full unique
-- constraint held an entry (NULL) for every task, an index write per row that a bulk
-- load of a million tasks paid a million times.
alter table tasks drop constraint tasks_idempotency_key_key;
create unique index tasks_idempotency_key_uidx on tasks (idempotency_key) where idempotency_key is not null;
