-- CloudPods: containers (LXC on a hypervisor node) or VMs (Proxmox) sold
-- as a product; one per subscription when bought, or made by an operator.

CREATE TABLE cloudpods (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    subscription_id TEXT UNIQUE,
    product_id TEXT,
    server_id TEXT REFERENCES servers (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'provisioning', 'active', 'suspended', 'terminating', 'terminated', 'failed')),
    -- running, stopped, frozen: what the hypervisor last said.
    power TEXT NOT NULL DEFAULT 'stopped',
    template TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT 'lxc',
    -- The container name (LXC) or VM id (Proxmox) on the node.
    provider_ref TEXT NOT NULL,
    hostname TEXT,
    ipv4 TEXT,
    cpu BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    disk_gb BIGINT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX cloudpods_customer_idx ON cloudpods (tenant_id, customer_id);
-- One address per node for pods that hold one.
CREATE UNIQUE INDEX cloudpods_ipv4 ON cloudpods (server_id, ipv4) WHERE ipv4 IS NOT NULL AND status <> 'terminated';
