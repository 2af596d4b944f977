-- A client is an address and, when the device named itself (in its DNS-over-TLS server name or
-- its DNS-over-HTTPS path), that name ('' for none): two phones behind one address are two
-- clients in every count. SQLite cannot drop the old UNIQUE (address), so the table is rebuilt
-- with its ids kept.
CREATE TABLE clients_by_device (
    id      INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    name    TEXT NOT NULL DEFAULT '',
    UNIQUE (address, name)
);
INSERT INTO clients_by_device (id, address) SELECT id, address FROM clients;
DROP TABLE clients;
ALTER TABLE clients_by_device RENAME TO clients;

-- How the query arrived: 0 udp, 1 tcp, 2 tls, 3 https.
ALTER TABLE queries ADD COLUMN protocol INTEGER NOT NULL DEFAULT 0;
