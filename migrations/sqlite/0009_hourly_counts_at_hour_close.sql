-- An hour still going on is kept out of the hourly tables: the writer sums its rows in memory
-- and adds them once, within a second of the hour's end. Adding every batch to the hourly tables
-- touched one row per distinct name and batch; a name asked in every batch of an hour now costs
-- one upsert an hour. Readers take hours from `first_open_hour` on from the raw rows, so they see
-- the same figures; after a restart the writer first recounts those hours from the raw rows
-- (sums held in memory die with the process).
--
-- Hours from `first_open_hour` on (hours since the epoch, UTC) may be missing from the hourly
-- tables or counted in part.
CREATE TABLE hourly_counts_state (
    id              INTEGER PRIMARY KEY CHECK (id = 0),
    first_open_hour INTEGER NOT NULL
);

-- A database written before this change has the hourly counts of its newest hour already (and
-- keeps adding to them until that hour ends); an empty one starts with the current hour.
INSERT INTO hourly_counts_state (id, first_open_hour)
SELECT 0, COALESCE(
    (SELECT MAX(hour) + 1 FROM hour_clients),
    CAST(strftime('%s', 'now') AS INTEGER) / 3600
);
