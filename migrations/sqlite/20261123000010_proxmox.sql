-- How a hypervisor server runs CloudPods: LXC over SSH (the default) or a
-- Proxmox VE node through its API. Proxmox's settings (API address, token
-- id, node name, template, pod network, CA) are JSON; the token's secret
-- is sealed with the master key, apart.
ALTER TABLE servers ADD COLUMN hypervisor TEXT NOT NULL DEFAULT 'lxc';
ALTER TABLE servers ADD COLUMN hypervisor_config TEXT;
ALTER TABLE servers ADD COLUMN hypervisor_secret TEXT;
