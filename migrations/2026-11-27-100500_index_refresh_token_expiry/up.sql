-- The auth service purges refresh tokens that expired longer ago than its retention; this index
-- lets it find them without reading the table whole (one row per login and per refresh).
-- CONCURRENTLY, outside a transaction (metadata.toml), so logins and refreshes go on while it is
-- built on a large table. Should the build fail, it leaves an INVALID index behind: drop it and
-- run the migrations again.
CREATE INDEX CONCURRENTLY idx_refresh_tokens_expires_at ON refresh_tokens (expires_at);
