-- Token ids (jti) of tokens the Django service (SimpleJWT) issued that may no
-- longer be used: blacklisted there before the switch (`authd import django`),
-- or used up here by a refresh or a logout. Pruned once expired.
CREATE TABLE legacy_token_blacklist (
    jti            TEXT        PRIMARY KEY,
    -- No foreign key: a blacklisted token of an account that was not imported still counts.
    user_id        BIGINT,
    expires_at     TIMESTAMPTZ NOT NULL,
    blacklisted_at TIMESTAMPTZ NOT NULL,
    reason         TEXT        NOT NULL
);
CREATE INDEX legacy_token_blacklist_expires_at ON legacy_token_blacklist (expires_at);
