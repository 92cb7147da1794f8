//! `ProxmoxStandin`: a local stand-in for the parts of the Proxmox VE API
//! Mooring uses (a Proxmox cluster cannot run here). It follows the
//! documented API (<https://pve.proxmox.com/pve-docs/api-viewer/>):
//!
//! - HTTPS (its own CA, made at start: [`ProxmoxStandin::ca_pem`]), paths
//!   under `/api2/json`, every answer `{"data": …}`;
//! - API-token auth, `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`;
//!   a wrong or missing token is `401 authentication failure`;
//! - parameters form-encoded (`POST`/`PUT`) or in the query (`GET`/`DELETE`);
//!   a bad one is `400 Parameter verification failed.` with
//!   `{"data": null, "errors": {param: message}}`; other failures are
//!   `500` with the message in the status line and `{"message": …}`;
//! - work that takes time (clone, start, stop, shutdown, reboot, suspend,
//!   resume, delete, resize) answers a task id (`UPID:…`) at once; the task
//!   is `running` for a moment, then `stopped` with `exitstatus` `OK` or
//!   the error, its log readable at `/tasks/{upid}/log`.
//!
//! Endpoints: `GET /version`, `GET /cluster/nextid`, `GET /nodes/{node}/status`,
//! `GET /nodes/{node}/qemu`, `POST /nodes/{node}/qemu/{vmid}/clone`,
//! `GET|PUT|POST /nodes/{node}/qemu/{vmid}/config`, `PUT …/resize`,
//! `GET …/status/current`, `POST …/status/{start,stop,shutdown,reboot,suspend,resume}`,
//! `DELETE /nodes/{node}/qemu/{vmid}`, `GET /nodes/{node}/tasks/{upid}/status|log`.
//!
//! Tests read what was asked ([`ProxmoxStandin::calls`]), look at a VM
//! ([`ProxmoxStandin::vm`]) and make the next task of a kind fail
//! ([`ProxmoxStandin::fail_next`]).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde_json::{json, Value};

/// How long a task stays `running`.
const TASK_TIME: Duration = Duration::from_millis(300);

/// One VM (or template) on the stand-in's node.
#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    pub vmid: u32,
    pub name: String,
    pub template: bool,
    /// `running` or `stopped`.
    pub status: String,
    /// QEMU's own state: `running`, `paused`, `stopped`.
    pub qmpstatus: String,
    pub cores: u32,
    pub memory: u64,
    pub disk_gb: u64,
    pub ipconfig0: Option<String>,
    /// Set while a task works on it (`clone`).
    pub lock: Option<String>,
    pub config: BTreeMap<String, String>,
}

struct Task {
    node: String,
    kind: String,
    vmid: u32,
    done_at: Instant,
    /// `None`: ends OK.
    error: Option<String>,
    log: Vec<String>,
    /// What the task does to the VMs when it ends (already applied to the
    /// state except for removal/unlock, which wait for the end).
    finish: Option<Finish>,
}

enum Finish {
    Unlock(u32),
    Remove(u32),
}

struct Inner {
    vms: BTreeMap<u32, Vm>,
    tasks: HashMap<String, Task>,
    calls: Vec<(String, String, BTreeMap<String, String>)>,
    failing: HashMap<String, String>,
    race_clone: bool,
    counter: u64,
}

/// The stand-in: one node, API tokens, VMs, tasks.
#[derive(Clone)]
pub struct ProxmoxStandin {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub node: String,
    pub token_id: String,
    pub token_secret: String,
    ca_pem: String,
    inner: Arc<Mutex<Inner>>,
}

fn fail(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "data": null, "message": format!("{message}\n") })),
    )
        .into_response()
}

fn bad_params(errors: Value) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "data": null, "errors": errors, "message": "Parameter verification failed.\n" })),
    )
        .into_response()
}

fn ok(data: Value) -> Response {
    Json(json!({ "data": data })).into_response()
}

fn params(query: Option<String>, body: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        out.insert(k.into_owned(), v.into_owned());
    }
    for (k, v) in form_urlencoded::parse(body) {
        out.insert(k.into_owned(), v.into_owned());
    }
    out
}

fn is_true(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("1" | "true"))
}

impl ProxmoxStandin {
    /// Start on 127.0.0.1 (any port) with node `pve`, token
    /// `mooring@pve!cloudpods`, and a template VM `9000` (`debian-12`,
    /// 2 cores, 2048 MiB, a 4 GiB `scsi0`).
    pub async fn start() -> ProxmoxStandin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, "pve", "mooring@pve!cloudpods", "s3cr3t-token").await
    }

    pub async fn serve(
        listener: tokio::net::TcpListener,
        node: &str,
        token_id: &str,
        token_secret: &str,
    ) -> ProxmoxStandin {
        let addr = listener.local_addr().unwrap();
        let (ca_pem, acceptor) = tls(addr.ip());
        let mut vms = BTreeMap::new();
        let mut config = BTreeMap::new();
        config.insert(
            "scsi0".to_string(),
            "local-lvm:base-9000-disk-0,size=4G".to_string(),
        );
        config.insert(
            "net0".to_string(),
            "virtio=BC:24:11:00:00:01,bridge=vmbr0".to_string(),
        );
        config.insert(
            "ide2".to_string(),
            "local-lvm:cloudinit,media=cdrom".to_string(),
        );
        vms.insert(
            9000,
            Vm {
                vmid: 9000,
                name: "debian-12".into(),
                template: true,
                status: "stopped".into(),
                qmpstatus: "stopped".into(),
                cores: 2,
                memory: 2048,
                disk_gb: 4,
                ipconfig0: None,
                lock: None,
                config,
            },
        );
        let me = ProxmoxStandin {
            url: format!("https://{addr}"),
            node: node.into(),
            token_id: token_id.into(),
            token_secret: token_secret.into(),
            ca_pem,
            inner: Arc::new(Mutex::new(Inner {
                vms,
                tasks: HashMap::new(),
                calls: Vec::new(),
                failing: HashMap::new(),
                race_clone: false,
                counter: 0,
            })),
        };
        let api = Router::new()
            .route("/version", get(version))
            .route("/cluster/nextid", get(next_id))
            .route("/nodes/{node}/status", get(node_status))
            .route("/nodes/{node}/qemu", get(list_vms))
            .route(
                "/nodes/{node}/qemu/{vmid}",
                axum::routing::delete(delete_vm),
            )
            .route("/nodes/{node}/qemu/{vmid}/clone", post(clone_vm))
            .route(
                "/nodes/{node}/qemu/{vmid}/config",
                get(get_config).put(set_config).post(set_config),
            )
            .route("/nodes/{node}/qemu/{vmid}/resize", put(resize))
            .route("/nodes/{node}/qemu/{vmid}/status/current", get(current))
            .route("/nodes/{node}/qemu/{vmid}/status/{action}", post(power))
            .route("/nodes/{node}/tasks/{upid}/status", get(task_status))
            .route("/nodes/{node}/tasks/{upid}/log", get(task_log));
        let app = Router::new()
            .nest("/api2/json", api)
            .layer(axum::middleware::from_fn_with_state(me.clone(), guard))
            .with_state(me.clone());
        let tls_listener = TlsListener {
            tcp: listener,
            acceptor,
        };
        tokio::spawn(async move {
            axum::serve(tls_listener, app).await.unwrap();
        });
        me
    }

    /// The stand-in's CA certificate (PEM), as a real node's
    /// `/etc/pve/pve-root-ca.pem`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Every call: method, path under `/api2/json`, parameters.
    pub fn calls(&self) -> Vec<(String, String, BTreeMap<String, String>)> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn vm(&self, vmid: u32) -> Option<Vm> {
        self.inner.lock().unwrap().vms.get(&vmid).cloned()
    }

    pub fn vms(&self) -> Vec<Vm> {
        self.inner.lock().unwrap().vms.values().cloned().collect()
    }

    /// The next task of `kind` (`qmclone`, `qmstart`, `qmdestroy`, …)
    /// ends with `message` as its exit status, changing nothing.
    pub fn fail_next(&self, kind: &str, message: &str) {
        self.inner
            .lock()
            .unwrap()
            .failing
            .insert(kind.into(), message.into());
    }

    /// The next clone finds its new id taken by someone else's VM
    /// (`someone-else`), as when another client won the same `nextid`.
    pub fn race_next_clone(&self) {
        self.inner.lock().unwrap().race_clone = true;
    }

    fn task(
        &self,
        i: &mut Inner,
        kind: &str,
        vmid: u32,
        log: Vec<String>,
        finish: Option<Finish>,
    ) -> (String, bool) {
        i.counter += 1;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let upid = format!(
            "UPID:{}:{:08X}:{:08X}:{:08X}:{kind}:{vmid}:{}:",
            self.node,
            4000 + i.counter,
            1_000_000 + i.counter,
            now,
            self.token_id.split('!').next().unwrap_or("root@pam")
        );
        let error = i.failing.remove(kind);
        let failed = error.is_some();
        let mut log = log;
        match &error {
            Some(e) => log.push(format!("TASK ERROR: {e}")),
            None => log.push("TASK OK".into()),
        }
        i.tasks.insert(
            upid.clone(),
            Task {
                node: self.node.clone(),
                kind: kind.into(),
                vmid,
                done_at: Instant::now() + TASK_TIME,
                error,
                log,
                finish: if failed { None } else { finish },
            },
        );
        (upid, failed)
    }

    /// Apply what ended tasks leave behind.
    fn settle(&self, i: &mut Inner) {
        let now = Instant::now();
        let mut done = Vec::new();
        for t in i.tasks.values_mut() {
            if t.done_at <= now {
                if let Some(f) = t.finish.take() {
                    done.push(f);
                }
            }
        }
        for f in done {
            match f {
                Finish::Unlock(id) => {
                    if let Some(vm) = i.vms.get_mut(&id) {
                        vm.lock = None;
                    }
                }
                Finish::Remove(id) => {
                    i.vms.remove(&id);
                }
            }
        }
    }
}

async fn guard(
    State(s): State<ProxmoxStandin>,
    method: Method,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let want = format!("PVEAPIToken={}={}", s.token_id, s.token_secret);
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if given != want {
        return fail(StatusCode::UNAUTHORIZED, "authentication failure");
    }
    let path = req
        .uri()
        .path()
        .trim_start_matches("/api2/json")
        .to_string();
    let query = req.uri().query().map(str::to_string);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    {
        let mut i = s.inner.lock().unwrap();
        i.calls
            .push((method.to_string(), path, params(query, &bytes)));
        s.settle(&mut i);
    }
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    next.run(req).await
}

fn check_node(s: &ProxmoxStandin, node: &str) -> Result<(), Response> {
    if node != s.node {
        return Err(fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"),
        ));
    }
    Ok(())
}

fn no_vm(vmid: u32, node: &str) -> Response {
    fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"),
    )
}

async fn version() -> Response {
    ok(json!({ "version": "8.2.4", "release": "8.2", "repoid": "faa83925c9641325" }))
}

async fn next_id(State(s): State<ProxmoxStandin>, RawQuery(q): RawQuery) -> Response {
    let i = s.inner.lock().unwrap();
    // With `vmid`: that id if it is free, else an error.
    if let Some(want) = params(q, b"").get("vmid") {
        return match want.parse::<u32>() {
            Ok(n) if i.vms.contains_key(&n) => {
                bad_params(json!({ "vmid": format!("VM {n} already exists") }))
            }
            Ok(n) => ok(json!(n.to_string())),
            Err(_) => bad_params(json!({ "vmid": "type check ('integer') failed" })),
        };
    }
    let id = (100..).find(|n| !i.vms.contains_key(n)).unwrap();
    // The API answers the id as a string.
    ok(json!(id.to_string()))
}

async fn node_status(State(s): State<ProxmoxStandin>, Path(node): Path<String>) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    let running = s
        .inner
        .lock()
        .unwrap()
        .vms
        .values()
        .filter(|v| v.status == "running")
        .map(|v| v.memory)
        .sum::<u64>();
    let gib = 1u64 << 30;
    ok(json!({
        "uptime": 864_000,
        "loadavg": ["0.42", "0.30", "0.25"],
        "memory": { "total": 64 * gib, "used": 4 * gib + running * (1 << 20), "free": 60 * gib - running * (1 << 20) },
        "rootfs": { "total": 100 * gib, "used": 20 * gib, "avail": 80 * gib, "free": 80 * gib },
        "cpuinfo": { "cpus": 16, "model": "Stand-in CPU", "sockets": 1 },
        "pveversion": "pve-manager/8.2.4/faa83925c9641325",
    }))
}

async fn list_vms(State(s): State<ProxmoxStandin>, Path(node): Path<String>) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    let i = s.inner.lock().unwrap();
    let list: Vec<Value> = i
        .vms
        .values()
        .map(|v| {
            let mut o = json!({
                "vmid": v.vmid,
                "name": v.name,
                "status": v.status,
                "cpus": v.cores,
                "maxmem": v.memory << 20,
                "maxdisk": v.disk_gb << 30,
            });
            if v.template {
                o["template"] = json!(1);
            }
            if let Some(l) = &v.lock {
                o["lock"] = json!(l);
            }
            o
        })
        .collect();
    ok(json!(list))
}

async fn clone_vm(
    State(s): State<ProxmoxStandin>,
    Path((node, vmid)): Path<(String, u32)>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    let p = params(q, &body);
    let Some(newid) = p
        .get("newid")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (100..=999_999_999).contains(n))
    else {
        return bad_params(json!({ "newid": "value must have a minimum value of 100" }));
    };
    if let Some(name) = p.get("name") {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return bad_params(
                json!({ "name": "invalid format - value does not look like a valid DNS name" }),
            );
        }
    }
    let mut i = s.inner.lock().unwrap();
    let Some(src) = i.vms.get(&vmid).cloned() else {
        return no_vm(vmid, &node);
    };
    if std::mem::take(&mut i.race_clone) {
        let mut other = src.clone();
        other.vmid = newid;
        other.name = "someone-else".into();
        other.template = false;
        i.vms.insert(newid, other);
    }
    if i.vms.contains_key(&newid) {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("unable to create VM {newid}: config file already exists"),
        );
    }
    if !src.template && !is_true(p.get("full")) {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "linked clone feature is not supported for running or non-template VMs",
        );
    }
    let name = p
        .get("name")
        .cloned()
        .unwrap_or_else(|| format!("Copy-of-VM-{}", src.name));
    let log = vec![
        format!("create full clone of drive scsi0 (local-lvm:base-{vmid}-disk-0)"),
        format!("transferred 4.0 GiB of 4.0 GiB (100.00%)"),
    ];
    let (upid, failed) = s.task(&mut i, "qmclone", newid, log, Some(Finish::Unlock(newid)));
    if !failed {
        let mut vm = src.clone();
        vm.vmid = newid;
        vm.name = name;
        vm.template = false;
        vm.status = "stopped".into();
        vm.qmpstatus = "stopped".into();
        vm.lock = Some("clone".into());
        vm.config.remove("description");
        if let Some(d) = p.get("description") {
            vm.config.insert("description".into(), d.clone());
        }
        vm.config.insert(
            "scsi0".into(),
            format!("local-lvm:vm-{newid}-disk-0,size={}G", vm.disk_gb),
        );
        i.vms.insert(newid, vm);
    }
    ok(json!(upid))
}

fn vm_config(v: &Vm) -> Value {
    let mut o = json!({
        "name": v.name,
        "cores": v.cores,
        "memory": v.memory.to_string(),
        "digest": format!("{:040x}", v.vmid as u64 * 7919 + v.memory + v.cores as u64),
    });
    for (k, val) in &v.config {
        o[k] = json!(val);
    }
    if let Some(ip) = &v.ipconfig0 {
        o["ipconfig0"] = json!(ip);
    }
    if v.template {
        o["template"] = json!(1);
    }
    if let Some(l) = &v.lock {
        o["lock"] = json!(l);
    }
    o
}

async fn get_config(
    State(s): State<ProxmoxStandin>,
    Path((node, vmid)): Path<(String, u32)>,
) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    match s.inner.lock().unwrap().vms.get(&vmid) {
        Some(v) => ok(vm_config(v)),
        None => no_vm(vmid, &node),
    }
}

async fn set_config(
    State(s): State<ProxmoxStandin>,
    method: Method,
    Path((node, vmid)): Path<(String, u32)>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    let p = params(q, &body);
    let mut errors = serde_json::Map::new();
    let cores = p
        .get("cores")
        .map(|c| c.parse::<u32>().ok().filter(|c| (1..=8192).contains(c)));
    if let Some(None) = cores {
        errors.insert(
            "cores".into(),
            json!("value must have a minimum value of 1"),
        );
    }
    let memory = p
        .get("memory")
        .map(|m| m.parse::<u64>().ok().filter(|m| *m >= 16));
    if let Some(None) = memory {
        errors.insert(
            "memory".into(),
            json!("value must have a minimum value of 16"),
        );
    }
    if let Some(ip) = p.get("ipconfig0") {
        let good = ip.split(',').all(|part| {
            matches!(part.split_once('='), Some(("ip" | "gw" | "ip6" | "gw6", v)) if !v.is_empty())
        });
        if !good {
            errors.insert("ipconfig0".into(), json!("invalid format - format error"));
        }
    }
    if !errors.is_empty() {
        return bad_params(Value::Object(errors));
    }
    let mut i = s.inner.lock().unwrap();
    s.settle(&mut i);
    let Some(vm) = i.vms.get_mut(&vmid) else {
        return no_vm(vmid, &node);
    };
    if let Some(l) = &vm.lock {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("VM is locked ({l})"),
        );
    }
    if let Some(Some(c)) = cores {
        vm.cores = c;
    }
    if let Some(Some(m)) = memory {
        vm.memory = m;
    }
    if let Some(ip) = p.get("ipconfig0") {
        vm.ipconfig0 = Some(ip.clone());
    }
    if let Some(n) = p.get("name") {
        vm.name = n.clone();
    }
    for k in [
        "sshkeys",
        "ciuser",
        "nameserver",
        "searchdomain",
        "description",
        "tags",
    ] {
        if let Some(v) = p.get(k) {
            vm.config.insert(k.into(), v.clone());
        }
    }
    if method == Method::POST {
        // The asynchronous form answers a task.
        let (upid, _) = s.task(
            &mut i,
            "qmconfig",
            vmid,
            vec!["update VM config".into()],
            None,
        );
        return ok(json!(upid));
    }
    ok(Value::Null)
}

async fn resize(
    State(s): State<ProxmoxStandin>,
    Path((node, vmid)): Path<(String, u32)>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    let p = params(q, &body);
    let disk = p.get("disk").cloned().unwrap_or_default();
    let size = p.get("size").cloned().unwrap_or_default();
    let Some(gb) = size.strip_suffix('G').and_then(|n| n.parse::<u64>().ok()) else {
        return bad_params(json!({ "size": "unable to parse size" }));
    };
    let mut i = s.inner.lock().unwrap();
    s.settle(&mut i);
    let Some(vm) = i.vms.get_mut(&vmid) else {
        return no_vm(vmid, &node);
    };
    if !vm.config.contains_key(&disk) {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("disk '{disk}' does not exist"),
        );
    }
    if gb < vm.disk_gb {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "shrinking disks is not supported",
        );
    }
    vm.disk_gb = gb;
    vm.config.insert(
        disk.clone(),
        format!("local-lvm:vm-{vmid}-disk-0,size={gb}G"),
    );
    let (upid, _) = s.task(
        &mut i,
        "qmresize",
        vmid,
        vec![format!("resize {disk} to {gb}G")],
        None,
    );
    ok(json!(upid))
}

async fn current(
    State(s): State<ProxmoxStandin>,
    Path((node, vmid)): Path<(String, u32)>,
) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    match s.inner.lock().unwrap().vms.get(&vmid) {
        Some(v) => {
            let mut o = json!({
                "vmid": v.vmid,
                "name": v.name,
                "status": v.status,
                "qmpstatus": v.qmpstatus,
                "cpus": v.cores,
                "maxmem": v.memory << 20,
            });
            if let Some(l) = &v.lock {
                o["lock"] = json!(l);
            }
            ok(o)
        }
        None => no_vm(vmid, &node),
    }
}

async fn power(
    State(s): State<ProxmoxStandin>,
    Path((node, vmid, action)): Path<(String, u32, String)>,
) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    let mut i = s.inner.lock().unwrap();
    s.settle(&mut i);
    let Some(vm) = i.vms.get(&vmid).cloned() else {
        return no_vm(vmid, &node);
    };
    if let Some(l) = &vm.lock {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("VM is locked ({l})"),
        );
    }
    if vm.template && action == "start" {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "you can't start a vm if it's a template",
        );
    }
    let (kind, status, qmp, refuse) = match action.as_str() {
        "start" => (
            "qmstart",
            "running",
            "running",
            (vm.status == "running").then_some(format!("VM {vmid} already running")),
        ),
        "stop" => ("qmstop", "stopped", "stopped", None),
        "shutdown" => (
            "qmshutdown",
            "stopped",
            "stopped",
            (vm.status != "running").then_some(format!("VM {vmid} not running")),
        ),
        "reboot" => (
            "qmreboot",
            "running",
            "running",
            (vm.status != "running").then_some(format!("VM {vmid} not running")),
        ),
        "suspend" => (
            "qmsuspend",
            "running",
            "paused",
            (vm.status != "running").then_some(format!("VM {vmid} not running")),
        ),
        "resume" => (
            "qmresume",
            "running",
            "running",
            (vm.status != "running").then_some(format!("VM {vmid} not running")),
        ),
        _ => {
            return fail(
                StatusCode::NOT_IMPLEMENTED,
                &format!("Method 'POST /nodes/{node}/qemu/{vmid}/status/{action}' not implemented"),
            )
        }
    };
    // Proxmox starts the task and lets it fail.
    let mut log = vec![format!("{action} VM {vmid}")];
    if let Some(r) = &refuse {
        log.push(r.clone());
        i.failing.insert(kind.into(), r.clone());
    }
    let (upid, failed) = s.task(&mut i, kind, vmid, log, None);
    if !failed {
        let vm = i.vms.get_mut(&vmid).unwrap();
        vm.status = status.into();
        vm.qmpstatus = qmp.into();
    }
    ok(json!(upid))
}

async fn delete_vm(
    State(s): State<ProxmoxStandin>,
    Path((node, vmid)): Path<(String, u32)>,
) -> Response {
    if let Err(r) = check_node(&s, &node) {
        return r;
    }
    let mut i = s.inner.lock().unwrap();
    s.settle(&mut i);
    let Some(vm) = i.vms.get(&vmid).cloned() else {
        return no_vm(vmid, &node);
    };
    if let Some(l) = &vm.lock {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("VM is locked ({l})"),
        );
    }
    if vm.status == "running" {
        i.failing.insert(
            "qmdestroy".into(),
            format!("VM {vmid} is running - destroy failed"),
        );
    }
    let (upid, failed) = s.task(
        &mut i,
        "qmdestroy",
        vmid,
        vec![format!("Removing image: 100% complete...done.")],
        Some(Finish::Remove(vmid)),
    );
    if !failed {
        i.vms.get_mut(&vmid).unwrap().lock = Some("destroyed".into());
    }
    ok(json!(upid))
}

fn find_task<'a>(i: &'a Inner, node: &str, upid: &str) -> Result<&'a Task, Response> {
    match i.tasks.get(upid) {
        Some(t) if t.node == node => Ok(t),
        _ => Err(fail(StatusCode::INTERNAL_SERVER_ERROR, "no such task")),
    }
}

async fn task_status(
    State(s): State<ProxmoxStandin>,
    Path((node, upid)): Path<(String, String)>,
) -> Response {
    let i = s.inner.lock().unwrap();
    let t = match find_task(&i, &node, &upid) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut o = json!({
        "upid": upid,
        "node": t.node,
        "type": t.kind,
        "id": t.vmid.to_string(),
        "user": s.token_id.split('!').next(),
        "status": "running",
    });
    if t.done_at <= Instant::now() {
        o["status"] = json!("stopped");
        o["exitstatus"] = json!(t.error.clone().unwrap_or_else(|| "OK".into()));
    }
    ok(o)
}

async fn task_log(
    State(s): State<ProxmoxStandin>,
    Path((node, upid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let p = params(q, b"");
    let start: usize = p.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let i = s.inner.lock().unwrap();
    let t = match find_task(&i, &node, &upid) {
        Ok(t) => t,
        Err(r) => return r,
    };
    // Lines appear as the task runs: all of them once it ended.
    let shown = if t.done_at <= Instant::now() {
        t.log.len()
    } else {
        t.log.len().saturating_sub(1).min(1)
    };
    let lines: Vec<Value> = t
        .log
        .iter()
        .take(shown)
        .enumerate()
        .skip(start)
        .map(|(n, l)| json!({ "n": n + 1, "t": l }))
        .collect();
    ok(json!(lines))
}

/// A CA and a server certificate for `ip` (and `localhost`), made now.
fn tls(ip: std::net::IpAddr) -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "Proxmox Virtual Environment (stand-in)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress(ip));
    leaf.distinguished_name.push(DnType::CommonName, "pve");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let chain = vec![cert.der().clone(), ca_cert.der().clone()];
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .unwrap();
    (
        ca_cert.pem(),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // A client that refuses the certificate (or never speaks)
            // costs a moment, not the listener.
            match tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return (tls, addr),
                _ => continue,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
