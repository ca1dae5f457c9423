-- Reset emails owed to accounts: a row is written when a reset request for an
-- active account is accepted, and deleted once its email is sent. One row per
-- account (requests while one waits are merged into it), so a flood of
-- requests for one account cannot crowd out the others.
CREATE TABLE password_reset_queue (
    user_id         BIGINT      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The latest request merged into this row.
    requested_at    TIMESTAMPTZ NOT NULL,
    -- Bumped by every request merged in, so a send that started before a
    -- newer request does not delete the row that request still needs.
    generation      BIGINT      NOT NULL DEFAULT 1,
    -- When a sender may next take the row: now, after a failure's backoff,
    -- or when a sender's lease on it runs out.
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    -- The random id of the sender holding the lease, if any.
    claim           TEXT
);
CREATE INDEX password_reset_queue_next_attempt_at ON password_reset_queue (next_attempt_at);
