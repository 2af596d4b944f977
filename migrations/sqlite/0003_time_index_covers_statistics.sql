-- Statistics read the raw rows of the partial minutes and hours at a window's edges (so every
-- window is exact). With the client and the status in the time index those reads touch the
-- index alone instead of one table row per query. The index grows in time order, so the writer
-- still only appends to it.
DROP INDEX queries_by_time;
CREATE INDEX queries_by_time ON queries (time_us, domain_id, client_id, status);
