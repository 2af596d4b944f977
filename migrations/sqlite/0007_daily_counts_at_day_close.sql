-- A day still going on is counted in the hourly tables only; the writer adds a day's hours to
-- the daily tables once, within a second of the day's end (or at the next start). Adding every
-- batch to the daily tables too touched one daily row per distinct name and second: a fifth of
-- the writer's work on a day of many distinct names. Readers take whole days from the daily
-- tables only for days that have ended, so they see the same figures.
--
-- Days from `first_open_day` on (days since the epoch, UTC) have no daily counts yet.
CREATE TABLE daily_counts_state (
    id             INTEGER PRIMARY KEY CHECK (id = 0),
    first_open_day INTEGER NOT NULL
);

-- A database written before this change has the daily counts of its newest day already (and
-- keeps adding to them until that day ends); an empty one starts with today.
INSERT INTO daily_counts_state (id, first_open_day)
SELECT 0, COALESCE(
    (SELECT MAX(day) + 1 FROM day_clients),
    CAST(strftime('%s', 'now') AS INTEGER) / 86400
);
