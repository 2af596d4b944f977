-- Paging walks the primary key newest first and tests each row against its filters. Forwarded
-- and cached answers (statuses 0 and 1) and A and AAAA questions (record types 1 and 28) make
-- up most of any history, so a page of them fills quickly without an index; the by-status and
-- by-type indexes keep only the other rows, which spares the writer two index entries for most
-- queries. A filter on an indexed value repeats the index's condition (src/store/paging.rs) so
-- that SQLite can prove the partial index applies.
DROP INDEX queries_by_status;
DROP INDEX queries_by_qtype;
CREATE INDEX queries_by_indexed_status ON queries (status, id) WHERE status NOT IN (0, 1);
CREATE INDEX queries_by_indexed_qtype ON queries (qtype, id) WHERE qtype NOT IN (1, 28);
