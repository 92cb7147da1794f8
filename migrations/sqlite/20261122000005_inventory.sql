-- Servers (nodes), their probe history, and WordPress sites: the inventory
-- the dashboards count. The nodes issue adds SSH keys and probing; the
-- WordPress issue adds environments. Kept in lockstep with migrations/postgres.

CREATE TABLE servers (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    ip TEXT NOT NULL,
    port BIGINT NOT NULL CHECK (port BETWEEN 1 AND 65535),
    ssh_user TEXT NOT NULL,
    -- Comma-separated: web, db, dns, mail, backup, hypervisor, control.
    roles TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('online', 'degraded', 'offline')),
    last_heartbeat_at TEXT,
    -- The host key pinned on first contact (OpenSSH SHA256 fingerprint).
    host_key_fingerprint TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- One heartbeat probe of a server; null where the probe could not tell.
CREATE TABLE server_probes (
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    reachable BIGINT NOT NULL CHECK (reachable IN (0, 1)),
    cpu_percent REAL,
    load1 REAL,
    memory_used_mb BIGINT,
    memory_total_mb BIGINT,
    disk_used_gb REAL,
    disk_total_gb REAL,
    uptime_seconds BIGINT,
    error TEXT,
    PRIMARY KEY (server_id, at)
);

CREATE TABLE sites (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('provisioning', 'active', 'failed', 'deleting')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, slug)
);
