-- The durable job queue. Kept in lockstep with migrations/sqlite.

CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    kind TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    timeout_secs BIGINT NOT NULL,
    run_after TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires_at TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    error_code TEXT,
    error_message TEXT,
    progress BIGINT NOT NULL DEFAULT 0,
    progress_label TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX jobs_ready_idx ON jobs (status, run_after);
CREATE INDEX jobs_tenant_idx ON jobs (tenant_id, created_at);
-- At most one running job per target, enforced by the database itself.
CREATE UNIQUE INDEX jobs_one_running_per_target ON jobs (target_type, target_id) WHERE status = 'running';

-- Steps a job has finished: a retry skips them.
CREATE TABLE job_steps (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (job_id, name)
);

-- The job's log, in order.
CREATE TABLE job_logs (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at TEXT NOT NULL,
    stream TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    line TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
