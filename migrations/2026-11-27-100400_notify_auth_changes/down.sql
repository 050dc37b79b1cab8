DROP TRIGGER sessions_notify_auth_delete ON sessions;
DROP TRIGGER sessions_notify_auth_change ON sessions;
DROP TRIGGER users_notify_auth_delete ON users;
DROP TRIGGER users_notify_auth_change ON users;
DROP FUNCTION notify_auth_change();
