-- Idempotent creates: a create request sent with an `Idempotency-Key` is
-- claimed here (per tenant, credential and key) before it runs, and its
-- answer is kept for 24 hours, so a retry gets the first answer again
-- instead of a second order. Kept in lockstep with migrations/postgres.
CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    -- The credential that sent it: user:<id>, token:<id>, key:<id>, bootstrap.
    owner TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    -- SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    -- Who holds the claim (new at every claim): completion is fenced on it.
    lease TEXT NOT NULL,
    -- An in-progress claim whose holder died may be taken after this.
    locked_until TEXT NOT NULL,
    status BIGINT,
    -- JSON array of [name, value] pairs (content-type, location).
    headers TEXT,
    body TEXT,
    body_base64 BIGINT NOT NULL DEFAULT 0 CHECK (body_base64 IN (0, 1)),
    created_at TEXT NOT NULL,
    completed_at TEXT,
    PRIMARY KEY (tenant_id, owner, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
