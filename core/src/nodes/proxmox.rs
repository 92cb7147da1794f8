//! Proxmox VE: how Mooring reaches a Proxmox node (its REST API, not SSH),
//! what it needs to know of it, and the API calls CloudPods use.
//!
//! The API (<https://pve.proxmox.com/pve-docs/api-viewer/>) lives under
//! `https://HOST:8006/api2/json`, answers `{"data": …}`, authenticates an API
//! token with `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`, takes
//! form-encoded parameters, and answers a task id (`UPID:…`) for work that
//! takes time; the task's status (`running`, then `stopped` with
//! `exitstatus` `OK` or the error) and log are read until it ends.
//!
//! TLS: a Proxmox node's certificate is signed by its own cluster CA
//! (`/etc/pve/pve-root-ca.pem`). Give that CA and Mooring trusts it (and
//! only it, besides the public roots); never "accept any certificate".

use std::{net::Ipv4Addr, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ssh::{NodeError, Stream};
use crate::{error::field_error, CoreResult};

/// What Mooring knows of a Proxmox node (the token's secret is kept apart,
/// sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxmoxConfig {
    /// `https://pve.example.com:8006`
    pub api_url: String,
    /// `USER@REALM!TOKENID`
    pub token_id: String,
    /// The node's name in its cluster.
    pub node: String,
    /// The VM template pods are cloned from.
    pub template_vmid: u32,
    /// Where full clones' disks go (the template's storage when unset).
    pub storage: Option<String>,
    /// The template's boot disk, grown to the pod's size.
    pub disk: String,
    /// The pods' network (`10.214.0.0/24`): cloud-init gives each pod an
    /// address in it.
    pub network: String,
    /// The pods' gateway; the network's first address when unset.
    pub gateway: Option<String>,
    /// The cluster CA (PEM) the node's certificate is signed by.
    pub ca_pem: Option<String>,
}

/// How a server runs CloudPods, as given by an admin: `kind` (`lxc`, the
/// default, or `proxmox`) and, for Proxmox, its settings (`None`: keep,
/// or the default).
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HypervisorInput {
    pub kind: Option<String>,
    pub api_url: Option<String>,
    pub token_id: Option<String>,
    pub token_secret: Option<String>,
    pub node: Option<String>,
    pub template_vmid: Option<i64>,
    pub storage: Option<String>,
    pub disk: Option<String>,
    pub network: Option<String>,
    pub gateway: Option<String>,
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for HypervisorInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HypervisorInput")
            .field("kind", &self.kind)
            .field("api_url", &self.api_url)
            .field("token_id", &self.token_id)
            .field(
                "token_secret",
                &self.token_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("node", &self.node)
            .field("template_vmid", &self.template_vmid)
            .field("storage", &self.storage)
            .field("disk", &self.disk)
            .field("network", &self.network)
            .field("gateway", &self.gateway)
            .field("ca_pem", &self.ca_pem)
            .finish()
    }
}

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn word(v: &str, field: &str, what: &str, extra: &[u8], max: usize) -> CoreResult<String> {
    let ok = !v.is_empty()
        && v.len() <= max
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
    if ok {
        Ok(v.to_string())
    } else {
        Err(field_error(field, what))
    }
}

/// An IPv4 network: its address, prefix length and gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodNetwork {
    pub base: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

impl PodNetwork {
    /// `a.b.c.d/len` (16 to 30), the gateway inside it (first host when
    /// `None`).
    pub fn parse(cidr: &str, gateway: Option<&str>) -> Result<PodNetwork, String> {
        let (addr, len) = cidr
            .trim()
            .split_once('/')
            .ok_or("must be a network such as 10.214.0.0/24")?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| "must be a network such as 10.214.0.0/24")?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|l| (16..=30).contains(l))
            .ok_or("the prefix length must be 16 to 30")?;
        let mask = u32::MAX << (32 - prefix);
        let base = Ipv4Addr::from(u32::from(addr) & mask);
        let gateway = match gateway {
            Some(g) => {
                let g: Ipv4Addr = g
                    .trim()
                    .parse()
                    .map_err(|_| "the gateway must be an IPv4 address")?;
                if u32::from(g) & mask != u32::from(base) {
                    return Err(format!("the gateway {g} is outside {base}/{prefix}"));
                }
                g
            }
            None => Ipv4Addr::from(u32::from(base) + 1),
        };
        Ok(PodNetwork {
            base,
            prefix,
            gateway,
        })
    }

    /// The addresses pods may take: every host address but the gateway.
    pub fn hosts(&self) -> impl Iterator<Item = String> + '_ {
        let first = u32::from(self.base) + 1;
        let last = u32::from(self.base) + (1u32 << (32 - self.prefix)) - 2;
        (first..=last)
            .map(Ipv4Addr::from)
            .filter(move |a| *a != self.gateway)
            .map(|a| a.to_string())
    }
}

/// How many CA certificates a PEM text holds, each parsed as X.509 the
/// way TLS will use it; `None` when one of them does not parse.
fn ca_certificates(pem: &str) -> Option<usize> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.ok()?).ok()?;
    }
    Some(roots.len())
}

impl ProxmoxConfig {
    /// Check `input` over `current` (an update keeps what is not given).
    /// `host` gives the default API address. Returns the config and the
    /// token secret when one was given.
    pub fn check(
        input: &HypervisorInput,
        current: Option<&ProxmoxConfig>,
        host: &str,
    ) -> CoreResult<(ProxmoxConfig, Option<String>)> {
        let api_url = match (blank(&input.api_url), current) {
            (Some(u), _) => u.to_string(),
            (None, Some(c)) => c.api_url.clone(),
            (None, None) => format!("https://{host}:8006"),
        };
        let parsed = url::Url::parse(&api_url)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host_str().is_some())
            .ok_or_else(|| {
                field_error(
                    "apiUrl",
                    "must be the node's HTTPS address, such as https://pve.example.com:8006",
                )
            })?;
        let api_url = format!(
            "https://{}:{}",
            parsed.host_str().unwrap_or_default(),
            parsed.port().unwrap_or(8006)
        );
        let token_id = match (blank(&input.token_id), current) {
            (Some(t), _) => t.to_string(),
            (None, Some(c)) => c.token_id.clone(),
            (None, None) => return Err(field_error("tokenId", "is required")),
        };
        let token_ok = token_id.contains('@') && token_id.contains('!');
        let token_id = word(
            &token_id,
            "tokenId",
            "must be an API token id such as mooring@pve!cloudpods",
            b"@!._-",
            128,
        )
        .and_then(|t| {
            token_ok.then_some(t).ok_or_else(|| {
                field_error(
                    "tokenId",
                    "must be an API token id such as mooring@pve!cloudpods",
                )
            })
        })?;
        let secret = match blank(&input.token_secret) {
            Some(s) => Some(word(
                s,
                "tokenSecret",
                "must be the token's secret (letters, digits and dashes)",
                b"-",
                200,
            )?),
            None if current.is_none() => return Err(field_error("tokenSecret", "is required")),
            None => None,
        };
        let node = match (blank(&input.node), current) {
            (Some(n), _) => n.to_string(),
            (None, Some(c)) => c.node.clone(),
            (None, None) => "pve".to_string(),
        };
        let node = word(
            &node,
            "node",
            "must be the node's name in its cluster (letters, digits, dashes)",
            b"-",
            63,
        )?;
        let template_vmid = match (input.template_vmid, current) {
            (Some(v), _) => u32::try_from(v)
                .ok()
                .filter(|v| (100..=999_999_999).contains(v))
                .ok_or_else(|| {
                    field_error("templateVmid", "must be a VM id from 100 to 999999999")
                })?,
            (None, Some(c)) => c.template_vmid,
            (None, None) => return Err(field_error("templateVmid", "is required")),
        };
        let storage = match (&input.storage, current) {
            (Some(_), _) => blank(&input.storage)
                .map(|s| {
                    word(
                        s,
                        "storage",
                        "must be a storage name (letters, digits, . _ -)",
                        b"._-",
                        64,
                    )
                })
                .transpose()?,
            (None, Some(c)) => c.storage.clone(),
            (None, None) => None,
        };
        let disk = match (blank(&input.disk), current) {
            (Some(d), _) => d.to_string(),
            (None, Some(c)) => c.disk.clone(),
            (None, None) => "scsi0".to_string(),
        };
        let bus_ok = ["scsi", "virtio", "sata", "ide"].iter().any(|b| {
            disk.strip_prefix(b).is_some_and(|n| {
                !n.is_empty() && n.len() <= 2 && n.bytes().all(|c| c.is_ascii_digit())
            })
        });
        if !bus_ok {
            return Err(field_error(
                "disk",
                "must be a disk such as scsi0 or virtio0",
            ));
        }
        let network = match (blank(&input.network), current) {
            (Some(n), _) => n.to_string(),
            (None, Some(c)) => c.network.clone(),
            (None, None) => {
                return Err(field_error(
                    "network",
                    "is required (such as 10.214.0.0/24)",
                ))
            }
        };
        let gateway = match (&input.gateway, current) {
            (Some(_), _) => blank(&input.gateway).map(str::to_string),
            (None, Some(c)) => c.gateway.clone(),
            (None, None) => None,
        };
        let net = PodNetwork::parse(&network, gateway.as_deref()).map_err(|m| {
            if m.contains("gateway") {
                field_error("gateway", m)
            } else {
                field_error("network", m)
            }
        })?;
        let ca_pem = match (&input.ca_pem, current) {
            (Some(_), _) => match blank(&input.ca_pem) {
                Some(p) => {
                    let ok = ca_certificates(p).is_some_and(|n| n > 0);
                    if !ok {
                        return Err(field_error(
                            "caPem",
                            "must be a PEM certificate (the node's /etc/pve/pve-root-ca.pem)",
                        ));
                    }
                    Some(p.to_string())
                }
                None => None,
            },
            (None, Some(c)) => c.ca_pem.clone(),
            (None, None) => None,
        };
        Ok((
            ProxmoxConfig {
                api_url,
                token_id,
                node,
                template_vmid,
                storage,
                disk,
                network: format!("{}/{}", net.base, net.prefix),
                // Kept only when given: else the network's first address.
                gateway: gateway.map(|_| net.gateway.to_string()),
                ca_pem,
            },
            secret,
        ))
    }

    pub fn pod_network(&self) -> PodNetwork {
        PodNetwork::parse(&self.network, self.gateway.as_deref()).unwrap_or(PodNetwork {
            base: Ipv4Addr::new(10, 214, 0, 0),
            prefix: 24,
            gateway: Ipv4Addr::new(10, 214, 0, 1),
        })
    }
}

/// A VM as the node lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmEntry {
    pub vmid: u32,
    pub name: String,
    pub status: String,
    pub lock: Option<String>,
}

/// A client for one Proxmox node.
#[derive(Clone)]
pub struct Pve {
    http: reqwest::Client,
    base: url::Url,
    auth: String,
    pub node: String,
}

impl std::fmt::Debug for Pve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pve")
            .field("base", &self.base.as_str())
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Pve {
    pub fn new(cfg: &ProxmoxConfig, secret: &str) -> Result<Pve, NodeError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(CALL_TIMEOUT)
            .user_agent(concat!("mooring/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &cfg.ca_pem {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                NodeError::Untrusted(format!("the CA certificate is unusable: {e}"))
            })?;
            b = b.add_root_certificate(ca);
        }
        let http = b
            .build()
            .map_err(|e| NodeError::Unreachable(format!("no HTTP client: {e}")))?;
        let base = url::Url::parse(&format!("{}/api2/json/", cfg.api_url.trim_end_matches('/')))
            .map_err(|e| NodeError::Unreachable(format!("bad API address: {e}")))?;
        Ok(Pve {
            http,
            base,
            auth: format!("PVEAPIToken={}={}", cfg.token_id, secret),
            node: cfg.node.clone(),
        })
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> url::Url {
        let mut u = self.base.clone();
        {
            let mut p = u.path_segments_mut().expect("an https URL has a path");
            p.pop_if_empty();
            for s in segments {
                p.push(s);
            }
        }
        if !query.is_empty() {
            u.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        u
    }

    /// One call: its `data`, or the error the node gave.
    async fn call(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        params: &[(&str, String)],
    ) -> Result<Value, NodeError> {
        let in_query = matches!(method, reqwest::Method::GET | reqwest::Method::DELETE);
        let url = self.url(segments, if in_query { params } else { &[] });
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("Authorization", &self.auth);
        if !in_query {
            req = req.form(params);
        }
        let res = req.send().await.map_err(|e| {
            let text = chain(&e);
            if text.contains("certificate") {
                NodeError::Untrusted(format!(
                    "the Proxmox API's certificate is not trusted ({text}); give the node's CA (/etc/pve/pve-root-ca.pem)"
                ))
            } else if e.is_timeout() {
                NodeError::Timeout(CALL_TIMEOUT)
            } else {
                NodeError::Unreachable(text)
            }
        })?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body.get("data").cloned().unwrap_or(Value::Null));
        }
        let mut message = body["message"]
            .as_str()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        if let Some(errors) = body["errors"].as_object() {
            let list: Vec<String> = errors
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default().trim()))
                .collect();
            message = format!("{message} {}", list.join("; "));
        }
        Err(match status.as_u16() {
            401 | 403 => NodeError::ApiAuth(message),
            // 595/596: the cluster node that answered cannot reach the one asked.
            502..=504 | 595 | 596 => NodeError::Unreachable(format!("{status}: {message}")),
            _ if message.contains("can't lock file") || message.contains("got timeout") => {
                NodeError::Busy(message)
            }
            s => NodeError::Api { status: s, message },
        })
    }

    async fn get(&self, segments: &[&str]) -> Result<Value, NodeError> {
        self.call(reqwest::Method::GET, segments, &[]).await
    }

    /// `GET /version`: the release, such as `8.2`.
    pub async fn version(&self) -> Result<String, NodeError> {
        let v = self.get(&["version"]).await?;
        Ok(v["release"]
            .as_str()
            .or(v["version"].as_str())
            .unwrap_or("?")
            .to_string())
    }

    /// `GET /nodes/{node}/status`: the heartbeat's probe.
    pub async fn probe(&self) -> Result<super::heartbeat::Probe, NodeError> {
        let s = self.get(&["nodes", &self.node, "status"]).await?;
        let n = |v: &Value| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        };
        let mb = |v: &Value| (n(v).unwrap_or(0.0) / 1_048_576.0) as i64;
        let gb = |v: &Value| (n(v).unwrap_or(0.0) / 1_073_741_824.0 * 100.0).round() / 100.0;
        Ok(super::heartbeat::Probe {
            uptime_seconds: n(&s["uptime"]).unwrap_or(0.0) as i64,
            load1: n(&s["loadavg"][0]).unwrap_or(0.0),
            memory_total_mb: mb(&s["memory"]["total"]),
            memory_used_mb: mb(&s["memory"]["used"]),
            disk_total_gb: gb(&s["rootfs"]["total"]),
            disk_used_gb: gb(&s["rootfs"]["used"]),
        })
    }

    /// `GET /cluster/nextid`: a free VM id.
    pub async fn next_id(&self) -> Result<u32, NodeError> {
        let v = self.get(&["cluster", "nextid"]).await?;
        v.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v.as_u64().and_then(|n| u32::try_from(n).ok()))
            .ok_or_else(|| NodeError::Api {
                status: 200,
                message: format!("nextid answered {v}"),
            })
    }

    /// `GET /cluster/nextid?vmid=N`: whether the cluster has no guest `id`.
    pub async fn id_free(&self, id: u32) -> Result<bool, NodeError> {
        match self
            .call(
                reqwest::Method::GET,
                &["cluster", "nextid"],
                &[("vmid", id.to_string())],
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(NodeError::Api {
                status: 400 | 500, ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /nodes/{node}/qemu`: the node's VMs.
    pub async fn vms(&self) -> Result<Vec<VmEntry>, NodeError> {
        let v = self.get(&["nodes", &self.node, "qemu"]).await?;
        Ok(v.as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|vm| {
                        Some(VmEntry {
                            vmid: vm["vmid"]
                                .as_u64()
                                .or_else(|| vm["vmid"].as_str().and_then(|s| s.parse().ok()))
                                .and_then(|n| u32::try_from(n).ok())?,
                            name: vm["name"].as_str().unwrap_or_default().to_string(),
                            status: vm["status"].as_str().unwrap_or_default().to_string(),
                            lock: vm["lock"].as_str().map(str::to_string),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn vm(&self, vmid: u32) -> Result<Option<VmEntry>, NodeError> {
        Ok(self.vms().await?.into_iter().find(|v| v.vmid == vmid))
    }

    /// `GET …/status/current`: (`status`, `qmpstatus`).
    pub async fn current(&self, vmid: u32) -> Result<(String, String), NodeError> {
        let id = vmid.to_string();
        let v = self
            .get(&["nodes", &self.node, "qemu", &id, "status", "current"])
            .await?;
        let status = v["status"].as_str().unwrap_or("stopped").to_string();
        let qmp = v["qmpstatus"].as_str().unwrap_or(&status).to_string();
        Ok((status, qmp))
    }

    /// `GET …/config`.
    pub async fn config(&self, vmid: u32) -> Result<Value, NodeError> {
        let id = vmid.to_string();
        self.get(&["nodes", &self.node, "qemu", &id, "config"])
            .await
    }

    /// `PUT …/config` (applied at once).
    pub async fn set_config(&self, vmid: u32, params: &[(&str, String)]) -> Result<(), NodeError> {
        let id = vmid.to_string();
        self.call(
            reqwest::Method::PUT,
            &["nodes", &self.node, "qemu", &id, "config"],
            params,
        )
        .await
        .map(|_| ())
    }

    /// `POST …/{template}/clone` a full clone to `newid`, waited for.
    pub async fn clone_vm(
        &self,
        template: u32,
        newid: u32,
        name: &str,
        description: &str,
        storage: Option<&str>,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<(), NodeError> {
        let id = template.to_string();
        let mut p = vec![
            ("newid", newid.to_string()),
            ("name", name.to_string()),
            ("description", description.to_string()),
            ("full", "1".to_string()),
        ];
        if let Some(s) = storage {
            p.push(("storage", s.to_string()));
        }
        let upid = self
            .call(
                reqwest::Method::POST,
                &["nodes", &self.node, "qemu", &id, "clone"],
                &p,
            )
            .await?;
        self.wait(&upid, Duration::from_secs(1800), on_line).await
    }

    /// `PUT …/resize` `disk` to `gb` GiB (sizes only grow).
    pub async fn resize(
        &self,
        vmid: u32,
        disk: &str,
        gb: i64,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<(), NodeError> {
        let id = vmid.to_string();
        let upid = self
            .call(
                reqwest::Method::PUT,
                &["nodes", &self.node, "qemu", &id, "resize"],
                &[("disk", disk.to_string()), ("size", format!("{gb}G"))],
            )
            .await?;
        // Proxmox 7 resizes at once (null); 8 answers a task.
        self.wait(&upid, Duration::from_secs(600), on_line).await
    }

    /// `POST …/status/{action}` (start, stop, shutdown, reboot, suspend,
    /// resume), waited for.
    pub async fn action(
        &self,
        vmid: u32,
        action: &str,
        params: &[(&str, String)],
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<(), NodeError> {
        let id = vmid.to_string();
        let upid = self
            .call(
                reqwest::Method::POST,
                &["nodes", &self.node, "qemu", &id, "status", action],
                params,
            )
            .await?;
        self.wait(&upid, Duration::from_secs(300), on_line).await
    }

    /// `DELETE /nodes/{node}/qemu/{vmid}` with its disks, waited for.
    pub async fn destroy(
        &self,
        vmid: u32,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<(), NodeError> {
        let id = vmid.to_string();
        let upid = self
            .call(
                reqwest::Method::DELETE,
                &["nodes", &self.node, "qemu", &id],
                &[
                    ("purge", "1".to_string()),
                    ("destroy-unreferenced-disks", "1".to_string()),
                ],
            )
            .await?;
        self.wait(&upid, Duration::from_secs(600), on_line).await
    }

    /// Follow a task to its end, its log lines to `on_line`; a task that
    /// ends other than `OK` is [`NodeError::TaskFailed`]. `null` (work done
    /// at once) is fine.
    pub async fn wait(
        &self,
        upid: &Value,
        limit: Duration,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<(), NodeError> {
        let Some(upid) = upid.as_str() else {
            return Ok(());
        };
        let started = tokio::time::Instant::now();
        let mut seen = 0u64;
        let mut pause = Duration::from_millis(150);
        loop {
            let status = self
                .get(&["nodes", &self.node, "tasks", upid, "status"])
                .await?;
            let log = self
                .call(
                    reqwest::Method::GET,
                    &["nodes", &self.node, "tasks", upid, "log"],
                    &[("start", seen.to_string()), ("limit", "500".to_string())],
                )
                .await
                .unwrap_or(Value::Null);
            for line in log.as_array().into_iter().flatten() {
                let n = line["n"].as_u64().unwrap_or(seen + 1);
                if n > seen {
                    seen = n;
                    if let Some(t) = line["t"].as_str() {
                        on_line(Stream::Stdout, t);
                    }
                }
            }
            if status["status"].as_str() == Some("stopped") {
                let exit = status["exitstatus"].as_str().unwrap_or("unknown");
                return if exit == "OK" || exit.starts_with("WARNINGS") {
                    Ok(())
                } else {
                    Err(NodeError::TaskFailed(exit.to_string()))
                };
            }
            if started.elapsed() > limit {
                return Err(NodeError::Timeout(limit));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_config_are_checked() {
        let n = PodNetwork::parse("10.214.0.7/24", None).unwrap();
        assert_eq!(n.base.to_string(), "10.214.0.0");
        assert_eq!(n.gateway.to_string(), "10.214.0.1");
        let hosts: Vec<String> = n.hosts().collect();
        assert_eq!(hosts.first().map(String::as_str), Some("10.214.0.2"));
        assert_eq!(hosts.last().map(String::as_str), Some("10.214.0.254"));
        assert_eq!(hosts.len(), 253);
        let g = PodNetwork::parse("192.168.8.0/29", Some("192.168.8.6")).unwrap();
        assert_eq!(
            g.hosts().collect::<Vec<_>>(),
            [
                "192.168.8.1",
                "192.168.8.2",
                "192.168.8.3",
                "192.168.8.4",
                "192.168.8.5"
            ]
        );
        assert!(PodNetwork::parse("10.0.0.0/8", None).is_err());
        assert!(PodNetwork::parse("10.0.0.0/24", Some("10.0.1.1")).is_err());
        assert!(PodNetwork::parse("nonsense", None).is_err());

        let input = HypervisorInput {
            token_id: Some("mooring@pve!pods".into()),
            token_secret: Some("0b6a-11ee".into()),
            template_vmid: Some(9000),
            network: Some("10.214.0.0/24".into()),
            ..Default::default()
        };
        let (c, secret) = ProxmoxConfig::check(&input, None, "pve.example.com").unwrap();
        assert_eq!(c.api_url, "https://pve.example.com:8006");
        assert_eq!(c.node, "pve");
        assert_eq!(c.disk, "scsi0");
        assert_eq!(c.gateway, None);
        assert_eq!(c.pod_network().gateway.to_string(), "10.214.0.1");
        assert_eq!(secret.as_deref(), Some("0b6a-11ee"));
        // An update keeps the secret and what it does not give.
        let (c2, s2) = ProxmoxConfig::check(
            &HypervisorInput {
                node: Some("pve2".into()),
                ..Default::default()
            },
            Some(&c),
            "x",
        )
        .unwrap();
        assert_eq!(
            (c2.node.as_str(), c2.template_vmid, s2),
            ("pve2", 9000, None)
        );
        let field = |i: HypervisorInput| match ProxmoxConfig::check(&i, None, "h") {
            Err(crate::CoreError::Field { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let bad = |f: fn(&mut HypervisorInput)| {
            let mut i = input.clone();
            f(&mut i);
            field(i)
        };
        assert_eq!(
            bad(|i| i.api_url = Some("http://pve:8006".into())),
            "apiUrl"
        );
        assert_eq!(bad(|i| i.token_id = Some("root".into())), "tokenId");
        assert_eq!(
            bad(|i| i.token_secret = Some("a b; rm".into())),
            "tokenSecret"
        );
        assert_eq!(bad(|i| i.template_vmid = Some(5)), "templateVmid");
        assert_eq!(bad(|i| i.node = Some("a/b".into())), "node");
        assert_eq!(bad(|i| i.disk = Some("nvme0".into())), "disk");
        assert_eq!(bad(|i| i.network = Some("10.0.0.0/8".into())), "network");
        assert_eq!(bad(|i| i.gateway = Some("10.9.9.9".into())), "gateway");
        assert_eq!(bad(|i| i.ca_pem = Some("not a cert".into())), "caPem");
        assert_eq!(bad(|i| i.storage = Some("local lvm".into())), "storage");
    }
}
