-- Where each session was started and last refreshed from, for the session
-- list its owner sees (GET /api/auth/sessions/) and `authd token list`.
-- IPs are the client address as resolved through http.trusted_proxies, as
-- text; user agents are cut to 256 characters. NULL for sessions started
-- before this migration, and the last_* columns until the first refresh.
ALTER TABLE sessions ADD COLUMN created_ip TEXT;
ALTER TABLE sessions ADD COLUMN created_user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_refreshed_at INTEGER;
ALTER TABLE sessions ADD COLUMN last_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_user_agent TEXT;
-- The session list walks a user's sessions newest first; this index serves
-- that order and every lookup by user the old one did.
CREATE INDEX sessions_user_created ON sessions (user_id, created_at);
DROP INDEX sessions_user;
