-- Recurring jobs, scheduled-run bookkeeping on jobs, system events, and the
-- diagnostic side-effect table. Kept in lockstep with migrations/postgres.

-- A recurring job: a cron expression (UTC) and what to enqueue.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    cron TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    enabled BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    next_run_at TEXT NOT NULL,
    last_run_at TEXT,
    last_job_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX schedules_due_idx ON schedules (enabled, next_run_at);

-- Which run of which schedule a job is: the database itself refuses a second
-- job for one run, whatever several server processes do.
ALTER TABLE jobs ADD COLUMN schedule_id TEXT;
ALTER TABLE jobs ADD COLUMN scheduled_for TEXT;
CREATE UNIQUE INDEX jobs_one_per_scheduled_run ON jobs (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL;
CREATE INDEX jobs_claim_idx ON jobs (status, run_after, created_at);

-- Queue, scheduler, provisioning and node events worth an operator's eye.
CREATE TABLE system_events (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    source TEXT NOT NULL CHECK (source IN ('queue', 'provisioning', 'scheduler', 'node')),
    level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    job_id TEXT,
    server_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX system_events_tenant_idx ON system_events (tenant_id, created_at);

-- Side effects of the `system.noop` diagnostic job, by idempotency key: the
-- queue self-test and the crash tests count them.
CREATE TABLE job_effects (
    effect_key TEXT NOT NULL,
    job_id TEXT NOT NULL,
    -- When the handler that recorded it started; recorded_at is when it ended.
    started_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX job_effects_key_idx ON job_effects (effect_key);
