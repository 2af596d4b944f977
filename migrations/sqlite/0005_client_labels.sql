-- Names of client addresses found by reverse lookups (through local records and forwarded
-- zones only). Kept apart from `clients`, whose rows are the identity the counts are keyed by:
-- a label that appears or changes later names the whole history of that address at once.
-- `name` is '' when the lookup found none (so it is not asked again within the hour).
CREATE TABLE client_labels (
    address    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    updated_us INTEGER NOT NULL
) WITHOUT ROWID;
