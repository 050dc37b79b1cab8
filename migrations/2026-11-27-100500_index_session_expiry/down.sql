DROP INDEX idx_refresh_tokens_expires_at;
DROP INDEX idx_sessions_revoked_at;
DROP INDEX idx_sessions_expires_at;
