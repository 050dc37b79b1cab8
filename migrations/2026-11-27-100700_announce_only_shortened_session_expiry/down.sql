DROP TRIGGER sessions_notify_auth_change ON sessions;

CREATE TRIGGER sessions_notify_auth_change
    AFTER UPDATE ON sessions
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION notify_auth_change();
