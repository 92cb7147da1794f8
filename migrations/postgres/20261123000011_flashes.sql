-- One-time messages a form leaves for the next page, apart from the session
-- record: a request that loaded the session before the form ran and saves
-- it after (every request pushes the idle timeout out) cannot wipe them.
CREATE TABLE flashes (
    session_hash TEXT PRIMARY KEY NOT NULL,
    flash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
