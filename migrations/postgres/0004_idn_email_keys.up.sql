-- Emails are unique by their domain's IDNA (punycode) form: `idn@bücher.de`
-- and `idn@xn--bcher-kva.de` are one mailbox. Keys written before kept the
-- Unicode form; `authd migrate` (and a SQLite server's start-up migration)
-- rewrites every key that still holds a non-ASCII character, found through
-- this index, so the check costs nothing once no such key is left.
CREATE INDEX users_email_lower_non_ascii ON users (id)
    WHERE octet_length(email_lower) <> char_length(email_lower);
