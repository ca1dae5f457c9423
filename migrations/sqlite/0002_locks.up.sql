-- Leases that let one instance at a time run periodic work (token pruning).
CREATE TABLE authd_locks (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
