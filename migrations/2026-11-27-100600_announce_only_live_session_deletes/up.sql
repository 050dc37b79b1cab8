-- The purge deletes sessions that had already ended: no replica can accept them, since their
-- revocation was announced and their expiry is checked, so announcing their deletion would only
-- make every replica forget the live sessions of those users (a purge of thousands of rows, a
-- notification each). Deleting a live session is still announced.
DROP TRIGGER sessions_notify_auth_delete ON sessions;

CREATE TRIGGER sessions_notify_auth_delete
    AFTER DELETE ON sessions
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND OLD.expires_at > now())
    EXECUTE FUNCTION notify_auth_change();
