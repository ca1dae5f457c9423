-- The audit log: who did what, when, from where (see src/audit). Rows are
-- written once and never updated; they outlive the accounts they name (no
-- foreign key), and are pruned after audit.retention.
CREATE TABLE audit_events (
    id          BIGSERIAL   PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    type        TEXT        NOT NULL,
    outcome     TEXT        NOT NULL,
    reason      TEXT,
    user_id     BIGINT,
    email       TEXT,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    session_id  TEXT,
    actor       TEXT        NOT NULL,
    actor_name  TEXT,
    detail      TEXT,
    count       BIGINT      NOT NULL DEFAULT 1
);
-- Pruning and time windows walk by time; `audit list --user` by account.
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
