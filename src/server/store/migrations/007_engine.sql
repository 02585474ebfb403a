-- Each node's clock measured against PostgreSQL's at its heartbeats: firing follows the
-- node's clock, so a node whose clock runs ahead would fire early. The offset is
-- now() on the server minus the node's clock at the midpoint of the round trip, with
-- the round trip itself as its uncertainty (the estimate is off by at most half of it).
alter table nodes add column clock_offset_ms double precision;
alter table nodes add column clock_rtt_ms double precision;

-- Occurrences each node holds claimed ahead, reported at heartbeats: claimers share the
-- work due within the claim-ahead horizon by it, so a node that joins gets its part.
alter table nodes add column held integer not null default 0;
