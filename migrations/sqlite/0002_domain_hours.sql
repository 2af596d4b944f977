-- The (domain_id, id) index on queries cost the writer more than everything else it does: a
-- batch touches index pages all over the file (one per distinct name), and every touched page is
-- written to the WAL again. Rows of a few names are now found through the hours that hold them:
-- `hour_domains` gains an index by name, which only changes when a name first appears in an hour.
DROP INDEX queries_by_domain;
CREATE INDEX hour_domains_by_domain ON hour_domains (domain_id, hour);
-- The time index carries the name too: scanning an hour for a few names then reads only index
-- entries, and only matching rows. It grows in time order, so the writer only appends to it.
DROP INDEX queries_by_time;
CREATE INDEX queries_by_time ON queries (time_us, domain_id);
