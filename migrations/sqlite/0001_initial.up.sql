-- Accounts, login sessions, refresh tokens and database-kept reset tokens.
-- Times are INTEGER microseconds since the Unix epoch, UTC.

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    email              TEXT    NOT NULL,
    -- The email lower-cased as a whole, computed by authd (domain::Email);
    -- uniqueness lives here so it is case-insensitive for any script.
    email_lower        TEXT    NOT NULL,
    full_name          TEXT    NOT NULL DEFAULT '',
    -- A PHC string; one starting with '!' can never match a password.
    password_hash      TEXT    NOT NULL,
    is_active          INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    is_staff           INTEGER NOT NULL DEFAULT 0 CHECK (is_staff IN (0, 1)),
    is_superuser       INTEGER NOT NULL DEFAULT 0 CHECK (is_superuser IN (0, 1)),
    date_joined        INTEGER NOT NULL,
    last_login         INTEGER,
    -- Tokens issued before this instant are rejected (password change, reset, revoke).
    tokens_valid_after INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_lower ON users (email_lower);
-- Instances poll for users whose tokens were cut off since their last look.
CREATE INDEX users_tokens_valid_after ON users (tokens_valid_after);

-- One row per login; every refresh token that descends from it shares its id (the `sid` claim).
CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    jti            TEXT    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family         TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT,
    replaced_by    TEXT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Reset tokens when no Redis is configured (or it is down): only the sha256 of the token is kept.
CREATE TABLE password_reset_tokens (
    token_sha256 TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
CREATE INDEX password_reset_tokens_user ON password_reset_tokens (user_id);
CREATE INDEX password_reset_tokens_expires_at ON password_reset_tokens (expires_at);
