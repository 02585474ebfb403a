-- The rescue scan looks for open runs with no owner or a dead owner. Keyed by owner,
-- it reads only those, however many runs the live nodes hold.
create index runs_open_owner_idx on runs (node_id, scheduled_for) where status in ('pending', 'running');
