-- Nodes: Mooring's SSH key per tenant (private half sealed with the master
-- key), host keys pinned per server, and a changed key held for an admin.

CREATE TABLE node_keys (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    public_key TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The pinned key in OpenSSH form (its fingerprint is host_key_fingerprint).
ALTER TABLE servers ADD COLUMN host_key TEXT;
-- A different key the server presented, refused until an admin accepts it.
ALTER TABLE servers ADD COLUMN presented_host_key_fingerprint TEXT;
ALTER TABLE servers ADD COLUMN presented_host_key TEXT;
-- Why the last contact failed (shown next to the status).
ALTER TABLE servers ADD COLUMN last_error TEXT;
