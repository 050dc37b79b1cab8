-- The auth service purges sessions that expired or were revoked, and refresh tokens that
-- expired, once they are older than its retention. These indexes let each purge read only
-- what it deletes instead of both tables whole.
CREATE INDEX idx_sessions_expires_at ON sessions (expires_at);
CREATE INDEX idx_sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX idx_refresh_tokens_expires_at ON refresh_tokens (expires_at);
