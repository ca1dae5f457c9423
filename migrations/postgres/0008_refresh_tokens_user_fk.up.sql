-- A refresh token's user is its session's user: the token belongs to its
-- session (family, ON DELETE CASCADE), and the session to its user (ON
-- DELETE CASCADE), so deleting a user still deletes every token of theirs.
-- The direct reference added nothing but a cost: inserting each rotated
-- token took a FOR KEY SHARE lock on the user's row, which writes that row
-- (its xmax) to the WAL on every refresh, and when one user's devices
-- refresh at once, every lock past the first makes a MultiXact. 16 chains
-- of one user refreshed 31% faster without it (bench/cpu_split.sh).
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_user_id_fkey;
