CREATE INDEX sessions_user ON sessions (user_id);
DROP INDEX sessions_user_created;
ALTER TABLE sessions
    DROP COLUMN last_user_agent,
    DROP COLUMN last_ip,
    DROP COLUMN last_refreshed_at,
    DROP COLUMN created_user_agent,
    DROP COLUMN created_ip;
