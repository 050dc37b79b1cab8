-- Every change to what an access-token check reads (a user row; a session's owner, expiry or
-- revocation) is announced on channel `auth_changes` with the user's id as payload, at commit.
-- Each auth-service replica listens and forgets what it holds in memory for that user, so its
-- token checks need no query and still see revocations, deactivations and deletions made by any
-- replica (or by hand in SQL) within milliseconds.
CREATE FUNCTION notify_auth_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('auth_changes', OLD.id::text);
    ELSE
        PERFORM pg_notify('auth_changes', OLD.user_id::text);
        IF TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id THEN
            PERFORM pg_notify('auth_changes', NEW.user_id::text);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_notify_auth_change
    AFTER UPDATE ON users
    FOR EACH ROW
    WHEN (OLD IS DISTINCT FROM NEW)
    EXECUTE FUNCTION notify_auth_change();

CREATE TRIGGER users_notify_auth_delete
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();

-- A refresh moves `last_used_at` on every call; only what a token check reads is announced.
CREATE TRIGGER sessions_notify_auth_change
    AFTER UPDATE ON sessions
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION notify_auth_change();

CREATE TRIGGER sessions_notify_auth_delete
    AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
