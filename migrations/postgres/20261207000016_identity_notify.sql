-- Announce every change to the identity rows a serving process keeps in
-- memory (core/src/identity/cache.rs), whoever makes it: another Mooring
-- process, the CLI or psql. Each process LISTENs on `mooring_identity` and
-- drops its copies when told. Changes that do not matter to authentication
-- (a session's idle deadline, a credential's last use) are not announced.
-- SQLite has no counterpart: there one process serves, and entries expire.

CREATE FUNCTION mooring_identity_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('mooring_identity', TG_TABLE_NAME);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_identity_changed AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mooring_identity_notify();
CREATE TRIGGER users_identity_updated AFTER UPDATE ON users
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'updated_at') IS DISTINCT FROM (to_jsonb(NEW) - 'updated_at'))
    EXECUTE FUNCTION mooring_identity_notify();

CREATE TRIGGER sessions_identity_changed AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION mooring_identity_notify();
CREATE TRIGGER sessions_identity_updated AFTER UPDATE ON sessions
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'expires_at') IS DISTINCT FROM (to_jsonb(NEW) - 'expires_at'))
    EXECUTE FUNCTION mooring_identity_notify();

CREATE TRIGGER access_tokens_identity_changed AFTER DELETE ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION mooring_identity_notify();
CREATE TRIGGER access_tokens_identity_updated AFTER UPDATE ON access_tokens
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION mooring_identity_notify();

CREATE TRIGGER api_keys_identity_changed AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION mooring_identity_notify();
CREATE TRIGGER api_keys_identity_updated AFTER UPDATE ON api_keys
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION mooring_identity_notify();

-- A one-time message left for a session's next page: the process that
-- serves that page may have noted the session as having none.
CREATE TRIGGER flashes_identity_changed AFTER INSERT OR UPDATE ON flashes
    FOR EACH ROW EXECUTE FUNCTION mooring_identity_notify();
