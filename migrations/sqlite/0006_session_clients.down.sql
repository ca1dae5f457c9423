CREATE INDEX sessions_user ON sessions (user_id);
DROP INDEX sessions_user_created;
ALTER TABLE sessions DROP COLUMN last_user_agent;
ALTER TABLE sessions DROP COLUMN last_ip;
ALTER TABLE sessions DROP COLUMN last_refreshed_at;
ALTER TABLE sessions DROP COLUMN created_user_agent;
ALTER TABLE sessions DROP COLUMN created_ip;
