DROP TRIGGER sessions_notify_auth_delete ON sessions;

CREATE TRIGGER sessions_notify_auth_delete
    AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
