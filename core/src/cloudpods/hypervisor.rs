//! What runs a CloudPod: a hypervisor provider per node. A server with the
//! `hypervisor` role runs pods as LXC containers over SSH (the default) or
//! as VMs cloned from a template through the Proxmox VE API; its settings
//! say which ([`HypervisorConfig`]). Every operation checks the guest's
//! state first, so running it twice leaves the node as running it once.

use async_trait::async_trait;

use super::lxc;
use crate::nodes::{
    keys::Vault,
    proxmox::{PodNetwork, ProxmoxConfig, Pve},
    servers::{HypervisorConfig, Nodes, Server},
    ssh::{NodeError, Stream},
};

/// Where a provider's output lines go.
pub type Lines<'a> = &'a mut (dyn FnMut(Stream, &str) + Send);

/// A guest's state as its hypervisor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Running,
    Stopped,
    /// Frozen (LXC) or paused (Proxmox): in memory, not running.
    Frozen,
    Missing,
}

impl Power {
    pub fn as_str(self) -> &'static str {
        match self {
            Power::Running => "running",
            Power::Stopped => "stopped",
            Power::Frozen => "frozen",
            Power::Missing => "missing",
        }
    }
}

/// What a pod's guest is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// The guest on the node: the container's name (LXC) or the VM id
    /// (Proxmox).
    pub reference: String,
    pub hostname: String,
    pub template: String,
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    pub ipv4: String,
    pub network: PodNetwork,
}

#[async_trait]
pub trait Hypervisor: Send + Sync {
    /// `lxc` or `proxmox`.
    fn kind(&self) -> &'static str;

    /// The reference a new guest takes, given the one the pod holds: LXC
    /// keeps it; Proxmox keeps a VM id that is free or already the pod's,
    /// else asks the cluster for a free one. The pod stores it before
    /// [`Hypervisor::create`], so a retry finds its guest.
    async fn reserve(&self, current: &str, guest: &Guest) -> Result<String, NodeError>;

    /// Make the guest (not started). Nothing to do when it exists.
    async fn create(&self, guest: &Guest, out: Lines<'_>) -> Result<(), NodeError>;

    async fn power(&self, reference: &str) -> Result<Power, NodeError>;

    /// Bring the guest to `target` from whatever state it is in.
    async fn set_power(
        &self,
        reference: &str,
        target: Power,
        out: Lines<'_>,
    ) -> Result<(), NodeError>;

    /// Restart it (start it when stopped).
    async fn reboot(&self, reference: &str, out: Lines<'_>) -> Result<(), NodeError>;

    /// Remove it and its disks; nothing to do when it is gone.
    async fn destroy(&self, reference: &str, out: Lines<'_>) -> Result<(), NodeError>;
}

/// The provider `node` runs the pod `owner` with (its id: a Proxmox VM
/// carries it, so Mooring never acts on a VM that is not the pod's).
pub fn of(nodes: &Nodes, node: &Server, owner: &str) -> Result<Box<dyn Hypervisor>, NodeError> {
    Ok(match &node.hypervisor {
        HypervisorConfig::Lxc => Box::new(Lxc {
            nodes: nodes.clone(),
            node: node.clone(),
        }),
        HypervisorConfig::Proxmox(cfg) => Box::new(Proxmox {
            pve: proxmox_client(&nodes.vault, node)?,
            cfg: cfg.clone(),
            mark: format!("mooring-cloudpod:{owner}"),
        }),
    })
}

fn proxmox_client(vault: &Vault, node: &Server) -> Result<Pve, NodeError> {
    node.proxmox(vault)?
        .ok_or_else(|| NodeError::ApiAuth("this server is not a Proxmox node".into()))
}

/// LXC containers on the node, over SSH ([`lxc`]).
struct Lxc {
    nodes: Nodes,
    node: Server,
}

#[async_trait]
impl Hypervisor for Lxc {
    fn kind(&self) -> &'static str {
        "lxc"
    }

    async fn reserve(&self, current: &str, _guest: &Guest) -> Result<String, NodeError> {
        Ok(current.to_string())
    }

    async fn create(&self, guest: &Guest, out: Lines<'_>) -> Result<(), NodeError> {
        lxc::create(&self.nodes, &self.node, guest, out).await
    }

    async fn power(&self, reference: &str) -> Result<Power, NodeError> {
        lxc::power(&self.nodes, &self.node, reference).await
    }

    async fn set_power(
        &self,
        reference: &str,
        target: Power,
        out: Lines<'_>,
    ) -> Result<(), NodeError> {
        lxc::set_power(&self.nodes, &self.node, reference, target, out).await
    }

    async fn reboot(&self, reference: &str, out: Lines<'_>) -> Result<(), NodeError> {
        lxc::reboot(&self.nodes, &self.node, reference, out).await
    }

    async fn destroy(&self, reference: &str, out: Lines<'_>) -> Result<(), NodeError> {
        lxc::destroy(&self.nodes, &self.node, reference, out).await
    }
}

/// VMs cloned from the node's template through the Proxmox VE API; the
/// pod's address and hostname go in by cloud-init (`ipconfig0`, the VM's
/// name). Each VM's description carries its pod's mark; a VM without it is
/// someone else's and is never touched.
struct Proxmox {
    pve: Pve,
    cfg: ProxmoxConfig,
    mark: String,
}

fn vmid(reference: &str) -> Result<u32, NodeError> {
    reference.parse().map_err(|_| NodeError::Api {
        status: 0,
        message: format!("{reference} is not a Proxmox VM id"),
    })
}

/// A disk's size in GiB from its config line (`local-lvm:vm-1-disk-0,size=8G`).
fn disk_gb(line: &str) -> Option<f64> {
    let size = line.split(',').find_map(|p| p.strip_prefix("size="))?;
    let (n, unit) = size.split_at(size.len().checked_sub(1)?);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "T" => n * 1024.0,
        "G" => n,
        "M" => n / 1024.0,
        "K" => n / 1024.0 / 1024.0,
        _ => return None,
    })
}

impl Proxmox {
    /// The state of VM `id`, known to be this pod's.
    async fn running(&self, id: u32) -> Result<Power, NodeError> {
        let (status, qmp) = self.pve.current(id).await?;
        Ok(match (status.as_str(), qmp.as_str()) {
            ("running", "paused" | "suspended") => Power::Frozen,
            ("running", _) => Power::Running,
            _ => Power::Stopped,
        })
    }

    /// Whether VM `id` is this pod's: `None` when this node has no such VM.
    async fn ours(&self, id: u32) -> Result<Option<bool>, NodeError> {
        if self.pve.vm(id).await?.is_none() {
            return Ok(None);
        }
        let config = self.pve.config(id).await?;
        Ok(Some(
            config["description"]
                .as_str()
                .is_some_and(|d| d.contains(&self.mark)),
        ))
    }

    /// Wait while a task (a clone left by an earlier attempt) holds the VM.
    async fn unlocked(&self, id: u32, out: Lines<'_>) -> Result<(), NodeError> {
        let started = tokio::time::Instant::now();
        let limit = std::time::Duration::from_secs(1800);
        loop {
            match self.pve.vm(id).await? {
                Some(vm) if vm.lock.is_some() => {
                    if started.elapsed() > limit {
                        return Err(NodeError::Timeout(limit));
                    }
                    out(
                        Stream::Stdout,
                        &format!(
                            "VM {id} is locked ({}); waiting",
                            vm.lock.unwrap_or_default()
                        ),
                    );
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                _ => return Ok(()),
            }
        }
    }
}

#[async_trait]
impl Hypervisor for Proxmox {
    fn kind(&self) -> &'static str {
        "proxmox"
    }

    async fn reserve(&self, current: &str, _guest: &Guest) -> Result<String, NodeError> {
        if let Ok(id) = current.parse::<u32>() {
            match self.ours(id).await? {
                Some(true) => return Ok(current.to_string()),
                // Ids are the cluster's: free here may be taken elsewhere.
                None if self.pve.id_free(id).await? => return Ok(current.to_string()),
                _ => {}
            }
        }
        Ok(self.pve.next_id().await?.to_string())
    }

    async fn create(&self, guest: &Guest, out: Lines<'_>) -> Result<(), NodeError> {
        let id = vmid(&guest.reference)?;
        match self.ours(id).await? {
            None => {
                out(
                    Stream::Stdout,
                    &format!(
                        "cloning template {} to VM {id} ({}) on {}",
                        self.cfg.template_vmid, guest.hostname, self.pve.node
                    ),
                );
                let cloned = self
                    .pve
                    .clone_vm(
                        self.cfg.template_vmid,
                        id,
                        &guest.hostname,
                        &format!("Mooring CloudPod {}\n{}", guest.hostname, self.mark),
                        self.cfg.storage.as_deref(),
                        out,
                    )
                    .await;
                match cloned {
                    Err(NodeError::Api { message, .. }) if message.contains("already exists") => {
                        return Err(NodeError::Busy(format!(
                            "VM id {id} was taken meanwhile; the next attempt takes another"
                        )))
                    }
                    other => other?,
                }
            }
            Some(false) => {
                return Err(NodeError::Busy(format!(
                    "VM id {id} belongs to another guest; the next attempt takes another"
                )))
            }
            Some(true) => out(Stream::Stdout, &format!("VM {id} exists")),
        }
        self.unlocked(id, out).await?;
        let n = guest.network;
        self.pve
            .set_config(
                id,
                &[
                    ("name", guest.hostname.clone()),
                    ("cores", guest.cpu.to_string()),
                    ("memory", guest.memory_mb.to_string()),
                    (
                        "ipconfig0",
                        format!("ip={}/{},gw={}", guest.ipv4, n.prefix, n.gateway),
                    ),
                ],
            )
            .await?;
        out(
            Stream::Stdout,
            &format!(
                "VM {id}: {} cores, {} MiB, {}/{}",
                guest.cpu, guest.memory_mb, guest.ipv4, n.prefix
            ),
        );
        let config = self.pve.config(id).await?;
        let now = config[&self.cfg.disk].as_str().and_then(disk_gb);
        match now {
            None => {
                return Err(NodeError::Api {
                    status: 0,
                    message: format!(
                        "the template has no disk {}; set the server's boot disk",
                        self.cfg.disk
                    ),
                })
            }
            Some(gb) if gb < guest.disk_gb as f64 => {
                out(
                    Stream::Stdout,
                    &format!(
                        "growing {} from {gb} to {} GiB",
                        self.cfg.disk, guest.disk_gb
                    ),
                );
                self.pve
                    .resize(id, &self.cfg.disk, guest.disk_gb, out)
                    .await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    async fn power(&self, reference: &str) -> Result<Power, NodeError> {
        let id = vmid(reference)?;
        if self.ours(id).await? != Some(true) {
            // Gone, or another guest's now: nothing of this pod's runs.
            return Ok(Power::Missing);
        }
        self.running(id).await
    }

    async fn set_power(
        &self,
        reference: &str,
        target: Power,
        out: Lines<'_>,
    ) -> Result<(), NodeError> {
        let id = vmid(reference)?;
        let now = self.power(reference).await?;
        let say = |out: Lines<'_>, s: &str| out(Stream::Stdout, &format!("VM {id} {s}"));
        match (target, now) {
            (Power::Missing, _) => return self.destroy(reference, out).await,
            (_, Power::Missing) => {
                return Err(NodeError::Api {
                    status: 0,
                    message: format!("VM {id} does not exist on {}", self.pve.node),
                })
            }
            (Power::Running, Power::Running) => say(out, "is running"),
            (Power::Running, Power::Frozen) => {
                self.pve.action(id, "resume", &[], out).await?;
                say(out, "resumed");
            }
            (Power::Running, Power::Stopped) => {
                self.pve.action(id, "start", &[], out).await?;
                say(out, "started");
            }
            (Power::Stopped, Power::Stopped) => say(out, "is stopped"),
            (Power::Stopped, Power::Frozen) => {
                // A paused guest cannot shut down by itself.
                self.pve.action(id, "stop", &[], out).await?;
                say(out, "stopped");
            }
            (Power::Stopped, Power::Running) => {
                self.pve
                    .action(
                        id,
                        "shutdown",
                        &[("timeout", "60".into()), ("forceStop", "1".into())],
                        out,
                    )
                    .await?;
                say(out, "shut down");
            }
            (Power::Frozen, Power::Frozen) => say(out, "is paused"),
            (Power::Frozen, Power::Running) => {
                self.pve.action(id, "suspend", &[], out).await?;
                say(out, "paused");
            }
            (Power::Frozen, Power::Stopped) => say(out, "is stopped: nothing runs to pause"),
        }
        Ok(())
    }

    async fn reboot(&self, reference: &str, out: Lines<'_>) -> Result<(), NodeError> {
        let id = vmid(reference)?;
        match self.power(reference).await? {
            Power::Running => self.pve.action(id, "reboot", &[], out).await,
            _ => {
                self.set_power(reference, Power::Stopped, out).await?;
                self.set_power(reference, Power::Running, out).await
            }
        }
    }

    async fn destroy(&self, reference: &str, out: Lines<'_>) -> Result<(), NodeError> {
        let Ok(id) = reference.parse::<u32>() else {
            // Never cloned: nothing on the node.
            out(Stream::Stdout, "no VM was made");
            return Ok(());
        };
        if self.ours(id).await? != Some(true) {
            out(
                Stream::Stdout,
                &format!("VM {id} is gone (or not this pod's)"),
            );
            return Ok(());
        }
        // A clone or an earlier destroy may still hold it.
        self.unlocked(id, out).await?;
        if self.running(id).await? != Power::Stopped {
            self.pve.action(id, "stop", &[], out).await?;
        }
        self.pve.destroy(id, out).await?;
        out(Stream::Stdout, &format!("VM {id} destroyed"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::disk_gb;

    #[test]
    fn disk_sizes_are_read() {
        assert_eq!(disk_gb("local-lvm:vm-100-disk-0,size=8G"), Some(8.0));
        assert_eq!(
            disk_gb("local:100/vm-100-disk-0.qcow2,format=qcow2,size=2048M"),
            Some(2.0)
        );
        assert_eq!(
            disk_gb("local-lvm:vm-100-disk-0,discard=on,size=1T"),
            Some(1024.0)
        );
        assert_eq!(disk_gb("local-lvm:vm-100-disk-0"), None);
        assert_eq!(disk_gb("size=G"), None);
    }
}
