-- Tasks list newest first by id: ids are UUID version 7 (tasks.ts, taskId), whose first
-- 48 bits are the creation millisecond, so the primary key already holds the order
-- that tasks_created_idx kept a second copy of. That index was one of four a create
-- updates: without it a million-task import took 12.4 s where it took 13.3 s (medians
-- of three alternating rounds, npm run bench:bulk -- --systems=sundial), PostgreSQL's
-- share 11 ms per 1,000 tasks where it was 13.
-- Ids made before version 7 ids (before 2026-12-01) sort by their random bits.
drop index if exists tasks_created_idx;
