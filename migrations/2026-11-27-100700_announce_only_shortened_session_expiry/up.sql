-- A refresh moves a session's expiry later. Announcing that made every replica forget all of
-- the user's sessions and read them again, a notification per refresh; and PostgreSQL
-- serialises the commits of transactions that notify. Only an expiry brought earlier (a
-- session ended by hand, say) is announced now: a replica that holds a session it believes
-- expired reads it again before refusing it, so a later expiry needs no announcement.
DROP TRIGGER sessions_notify_auth_change ON sessions;

CREATE TRIGGER sessions_notify_auth_change
    AFTER UPDATE ON sessions
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id
          OR NEW.expires_at < OLD.expires_at
          OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION notify_auth_change();
