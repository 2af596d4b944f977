-- Query history. Names and client addresses are interned so that a row stays small (a busy
-- household writes ~50k rows a day); `id` grows with insertion order and is the paging cursor.
CREATE TABLE domains (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE clients (
    id      INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE
);

-- status: 0 forwarded, 1 cached, 2 blocked, 3 refused, 4 failed.
CREATE TABLE queries (
    id          INTEGER PRIMARY KEY,
    time_us     INTEGER NOT NULL,
    client_id   INTEGER NOT NULL REFERENCES clients (id),
    domain_id   INTEGER NOT NULL REFERENCES domains (id),
    qtype       INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    rcode       INTEGER NOT NULL,
    rule        TEXT,
    list        TEXT,
    category    TEXT,
    upstream    TEXT,
    duration_us INTEGER NOT NULL
);

-- One index per /api/queries filter, each ending in id so "newest first" needs no sort.
CREATE INDEX queries_by_time ON queries (time_us);
CREATE INDEX queries_by_client ON queries (client_id, id);
CREATE INDEX queries_by_domain ON queries (domain_id, id);
CREATE INDEX queries_by_status ON queries (status, id);
CREATE INDEX queries_by_qtype ON queries (qtype, id);

-- Counts kept by the writer so statistics never scan the raw rows: per minute and status for
-- totals and timelines; per hour and per day, by domain and by client, for top lists and
-- distinct counts (a busy network sees thousands of distinct names an hour, so per-minute rows
-- would be nearly as many as the raw ones, and a month of hourly rows is still too many to
-- aggregate quickly: ranges longer than two days use the daily ones, keyed domain (client)
-- first so that grouping by it streams without a sort).
CREATE TABLE minute_counts (
    minute INTEGER NOT NULL,
    status INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (minute, status)
) WITHOUT ROWID;

CREATE TABLE hour_domains (
    hour      INTEGER NOT NULL,
    domain_id INTEGER NOT NULL,
    status    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (hour, domain_id, status)
) WITHOUT ROWID;

CREATE TABLE hour_clients (
    hour      INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    status    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (hour, client_id, status)
) WITHOUT ROWID;

CREATE TABLE day_domains (
    day       INTEGER NOT NULL,
    domain_id INTEGER NOT NULL,
    status    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (domain_id, day, status)
) WITHOUT ROWID;

CREATE TABLE day_clients (
    day       INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    status    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (client_id, day, status)
) WITHOUT ROWID;

-- Blocked queries per client and list ('' when a list has no category), for the "who phones
-- home" report.
CREATE TABLE hour_client_lists (
    hour      INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    list      TEXT NOT NULL,
    category  TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (hour, client_id, list, category)
) WITHOUT ROWID;

CREATE TABLE day_client_lists (
    client_id INTEGER NOT NULL,
    day       INTEGER NOT NULL,
    list      TEXT NOT NULL,
    category  TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (client_id, day, list, category)
) WITHOUT ROWID;

-- Allow and deny rules added through the API; applied to DNS on top of the lists.
CREATE TABLE custom_rules (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('allow', 'deny')),
    domain     TEXT NOT NULL,
    comment    TEXT,
    created_us INTEGER NOT NULL,
    UNIQUE (kind, domain)
);
