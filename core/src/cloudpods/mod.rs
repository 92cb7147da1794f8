//! CloudPods: a container (LXC on a `hypervisor` node, over SSH) or a VM
//! (on a Proxmox VE node, through its API) sold as a product; the node's
//! settings choose ([`hypervisor`]).
//! Every change is a job on the pod (one at a time per pod), its node
//! output streamed into the job's log: provision (place on a node,
//! allocate an address, create, start), suspend (freeze), unsuspend,
//! start, stop, reboot, destroy. Paying for a `cloudpod` product creates
//! one through the billing lifecycle; dunning suspends and destroys it.

pub mod hypervisor;
pub mod lxc;

use std::future::Future;

use async_trait::async_trait;
use serde::Deserialize;
use sqlx::Row;

use self::hypervisor::Power;
use crate::paging::TOTAL;
use crate::{
    audit,
    billing::{lifecycle::Provisioner, subscriptions::Subscription, Viewer},
    clock,
    error::field_error,
    jobs::{self, JobContext, JobError, JobHandler, NewJob},
    nodes::{
        servers::{self, Nodes, Server},
        ssh::Stream,
    },
    paging::Page,
    CoreError, CoreResult, Db,
};

pub const STATUSES: [&str; 7] = [
    "pending",
    "provisioning",
    "active",
    "suspended",
    "terminating",
    "terminated",
    "failed",
];

pub const PROVISION: &str = "cloudpod.provision";
pub const SUSPEND: &str = "cloudpod.suspend";
pub const UNSUSPEND: &str = "cloudpod.unsuspend";
pub const START: &str = "cloudpod.start";
pub const STOP: &str = "cloudpod.stop";
pub const REBOOT: &str = "cloudpod.reboot";
pub const DESTROY: &str = "cloudpod.destroy";
pub const KINDS: [&str; 7] = [PROVISION, SUSPEND, UNSUSPEND, START, STOP, REBOOT, DESTROY];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudPod {
    pub id: String,
    pub tenant_id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub product_id: Option<String>,
    pub server_id: Option<String>,
    pub name: String,
    pub status: String,
    pub power: String,
    /// The operating system image (`debian`, `busybox`): the JSON's `image`.
    pub template: String,
    /// The plan: the SKU of the product it was made from (the JSON's
    /// `template`, as in the contract's `"template": "CPOD-MINI"`).
    pub plan: Option<String>,
    /// `lxc` or `proxmox`: the node's hypervisor when the pod was placed.
    pub provider: String,
    pub provider_ref: String,
    pub hostname: Option<String>,
    pub ipv4: Option<String>,
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    pub last_error: Option<String>,
    pub created_at: String,
}

impl CloudPod {
    /// The contract's shape, plus the extension fields.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "tenantId": self.tenant_id,
            "customerId": self.customer_id,
            "subscriptionId": self.subscription_id,
            "productId": self.product_id,
            "serverId": self.server_id,
            "name": self.name,
            "status": self.status,
            "power": self.power,
            "template": self.plan,
            "image": self.template,
            "hostname": self.hostname,
            "ipv4": self.ipv4,
            "cpu": self.cpu,
            "memoryMb": self.memory_mb,
            "diskGb": self.disk_gb,
            "lastError": self.last_error,
            "createdAt": self.created_at,
            "provider": self.provider,
            "providerRef": self.provider_ref,
        })
    }
}

fn row_to_pod(r: &sqlx::any::AnyRow) -> CoreResult<CloudPod> {
    Ok(CloudPod {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        customer_id: r.try_get("customer_id")?,
        subscription_id: r.try_get("subscription_id")?,
        product_id: r.try_get("product_id")?,
        server_id: r.try_get("server_id")?,
        name: r.try_get("name")?,
        status: r.try_get("status")?,
        power: r.try_get("power")?,
        template: r.try_get("template")?,
        plan: r.try_get("plan")?,
        provider: r.try_get("provider")?,
        provider_ref: r.try_get("provider_ref")?,
        hostname: r.try_get("hostname")?,
        ipv4: r.try_get("ipv4")?,
        cpu: r.try_get("cpu")?,
        memory_mb: r.try_get("memory_mb")?,
        disk_gb: r.try_get("disk_gb")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A pod by id, any tenant (jobs).
pub async fn load(db: &Db, id: &str) -> CoreResult<CloudPod> {
    let row = sqlx::query("SELECT * FROM cloudpods WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_pod(&row)
}

/// One pod the viewer may see.
pub async fn get(db: &Db, v: &Viewer, id: &str) -> CoreResult<CloudPod> {
    let pod = load(db, id).await?;
    if pod.tenant_id != v.tenant() || v.only_customer().is_some_and(|c| c != pod.customer_id) {
        return Err(CoreError::NotFound);
    }
    Ok(pod)
}

/// Pods the viewer may see, newest first.
pub async fn list(
    db: &Db,
    v: &Viewer,
    customer: Option<&str>,
    status: Option<&str>,
    page: Page,
) -> CoreResult<(Vec<CloudPod>, i64)> {
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(field_error(
                "status",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let customer = &v.customer_scope(customer);
    let status = status.unwrap_or("");
    let filter = "tenant_id = $1 AND ($2 = '' OR customer_id = $2) AND ($3 = '' OR status = $3)";
    let rows = sqlx::query(&format!(
        "SELECT *, {TOTAL} FROM cloudpods WHERE {filter} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
    ))
    .bind(v.tenant())
    .bind(customer)
    .bind(status)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM cloudpods WHERE {filter}"))
            .bind(v.tenant())
            .bind(customer)
            .bind(status)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    Ok((
        rows.iter().map(row_to_pod).collect::<CoreResult<_>>()?,
        total,
    ))
}

/// What a pod is built from: the product's metadata (`template`, `cpu`,
/// `memoryMb`, `diskGb`), with defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size {
    pub template: String,
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
}

impl Size {
    pub fn of(metadata: &serde_json::Value) -> CoreResult<Size> {
        let template = metadata["template"]
            .as_str()
            .unwrap_or("debian")
            .to_string();
        if !lxc::TEMPLATES.contains(&template.as_str()) {
            return Err(field_error(
                "template",
                format!("must be one of {}", lxc::TEMPLATES.join(", ")),
            ));
        }
        let n = |k: &str, d: i64, max: i64| -> CoreResult<i64> {
            match metadata.get(k) {
                None | Some(serde_json::Value::Null) => Ok(d),
                Some(v) => v.as_i64().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                    field_error(k, format!("must be a whole number from 1 to {max}"))
                }),
            }
        };
        Ok(Size {
            template,
            cpu: n("cpu", 1, 64)?,
            memory_mb: n("memoryMb", 512, 1 << 20)?,
            disk_gb: n("diskGb", 10, 1 << 14)?,
        })
    }
}

fn check_name(name: &str) -> CoreResult<String> {
    crate::names::dns_label("name", name)
}

/// A pod to make (operators).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodInput {
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub product_id: Option<String>,
    pub name: Option<String>,
    /// The plan's SKU (the contract's name for it).
    pub template: Option<String>,
    /// The operating system image, if not the plan's.
    pub image: Option<String>,
}

/// The actions a product may open to its customers.
pub const CUSTOMER_ACTIONS: [&str; 3] = ["start", "stop", "reboot"];

/// What customers may do to their pods: the product's `customerActions`
/// (some of `start`, `stop`, `reboot`); all three when it does not say.
pub fn customer_actions_of(metadata: &serde_json::Value) -> Vec<&'static str> {
    const ALL: [&str; 3] = CUSTOMER_ACTIONS;
    match metadata["customerActions"].as_array() {
        Some(list) => ALL
            .into_iter()
            .filter(|a| list.iter().any(|v| v.as_str() == Some(a)))
            .collect(),
        None => ALL.to_vec(),
    }
}

/// [`customer_actions_of`] the pod's product.
pub async fn customer_actions(db: &Db, pod: &CloudPod) -> CoreResult<Vec<&'static str>> {
    let meta: Option<String> = sqlx::query_scalar("SELECT metadata FROM products WHERE id = $1")
        .bind(pod.product_id.as_deref().unwrap_or(""))
        .fetch_optional(db.pool())
        .await?;
    let meta = meta
        .and_then(|m| serde_json::from_str(&m).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok(customer_actions_of(&meta))
}

/// The plan a pod is made from: its product, that product's SKU, its size.
struct Plan<'a> {
    product: &'a str,
    sku: &'a str,
    size: &'a Size,
}

/// Insert a pending pod on `conn` (no checks of who asks).
async fn insert(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    customer: &str,
    subscription: Option<&str>,
    plan: Plan<'_>,
    name: &str,
) -> CoreResult<String> {
    let Plan {
        product,
        sku: plan,
        size,
    } = plan;
    let id = uuid::Uuid::new_v4().to_string();
    let now = clock::now();
    let provider_ref = format!("mooring-{}", &id.replace('-', "")[..12]);
    sqlx::query(
        "INSERT INTO cloudpods (id, tenant_id, customer_id, subscription_id, product_id, name, status, template, \
         provider_ref, hostname, cpu, memory_mb, disk_gb, created_at, updated_at, plan) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $6, $9, $10, $11, $12, $12, $13)",
    )
    .bind(&id)
    .bind(tenant)
    .bind(customer)
    .bind(subscription)
    .bind(product)
    .bind(name)
    .bind(&size.template)
    .bind(&provider_ref)
    .bind(size.cpu)
    .bind(size.memory_mb)
    .bind(size.disk_gb)
    .bind(&now)
    .bind(plan)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// A subscription a pod may be bound to: this tenant's, this customer's, for
/// a CloudPod product, still alive, and without a pod. Every refusal names
/// the field and says nothing about other tenants' ids.
async fn check_subscription(
    conn: &mut sqlx::AnyConnection,
    tenant: &str,
    customer: &str,
    subscription: &str,
) -> CoreResult<()> {
    let row = sqlx::query(
        "SELECT s.customer_id, s.status, p.kind FROM subscriptions s \
         JOIN products p ON p.id = s.product_id AND p.tenant_id = s.tenant_id \
         WHERE s.id = $1 AND s.tenant_id = $2",
    )
    .bind(subscription)
    .bind(tenant)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| field_error("subscriptionId", "no such subscription"))?;
    let owner: String = row.try_get("customer_id")?;
    if owner != customer {
        return Err(field_error(
            "subscriptionId",
            "belongs to another customer than the CloudPod's",
        ));
    }
    let kind: String = row.try_get("kind")?;
    if kind != "cloudpod" {
        return Err(field_error(
            "subscriptionId",
            "is not a subscription to a CloudPod product",
        ));
    }
    let status: String = row.try_get("status")?;
    if matches!(status.as_str(), "cancelled" | "terminated") {
        return Err(field_error(
            "subscriptionId",
            format!("is {status}; a CloudPod needs a live subscription"),
        ));
    }
    let bound: Option<String> = sqlx::query_scalar(
        "SELECT id FROM cloudpods WHERE subscription_id = $1 AND tenant_id = $2",
    )
    .bind(subscription)
    .bind(tenant)
    .fetch_optional(&mut *conn)
    .await?;
    if bound.is_some() {
        return Err(CoreError::Conflict(
            "this subscription already has a CloudPod".into(),
        ));
    }
    Ok(())
}

fn pod_job(pod: &CloudPod, kind: &str) -> NewJob {
    NewJob::new(
        pod.tenant_id.clone(),
        kind,
        serde_json::json!({ "cloudPodId": pod.id }),
    )
    .target("cloudpod", pod.id.clone())
    .max_attempts(5)
}

/// Make a pod and queue its provisioning (operators). Returns the pod and
/// its job's id.
pub async fn create(
    db: &Db,
    v: &Viewer,
    actor: &str,
    input: PodInput,
) -> CoreResult<(CloudPod, String)> {
    v.require_operator("only operators make CloudPods by hand; customers order them")?;
    let customer = input
        .customer_id
        .ok_or_else(|| field_error("customerId", "is required"))?;
    crate::billing::customers::get(db, v, &customer)
        .await
        .map_err(|_| field_error("customerId", "no such customer"))?;
    // The plan: `productId`, or `template` (the product's SKU, as in the
    // contract's `"template": "CPOD-MINI"`), or both when they agree.
    let product_id = match (input.product_id, input.template.as_deref()) {
        (Some(id), _) => id,
        (None, Some(sku)) => sqlx::query_scalar(
            "SELECT id FROM products WHERE tenant_id = $1 AND sku = $2 AND kind = 'cloudpod'",
        )
        .bind(v.tenant())
        .bind(sku)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| field_error("template", format!("no CloudPod plan has the SKU {sku}")))?,
        (None, None) => {
            return Err(field_error(
                "productId",
                "is required (or give the plan's SKU as template)",
            ))
        }
    };
    let product = crate::billing::products::get(db, v, &product_id)
        .await
        .map_err(|_| field_error("productId", "no such product"))?;
    if product.kind != "cloudpod" {
        return Err(field_error("productId", "is not a CloudPod product"));
    }
    if let Some(sku) = input.template.as_deref() {
        if sku != product.sku {
            return Err(field_error(
                "template",
                format!("is the plan's SKU; the product's is {}", product.sku),
            ));
        }
    }
    let name = check_name(input.name.as_deref().unwrap_or_default())?;
    let mut meta = product.metadata.clone();
    if let Some(image) = input.image {
        meta["template"] = image.into();
    }
    let size = Size::of(&meta).map_err(|e| match e {
        CoreError::Field { field, message } if field == "template" => field_error("image", message),
        other => other,
    })?;
    let mut tx = db.begin_write().await?;
    if let Some(sub) = input.subscription_id.as_deref() {
        check_subscription(&mut tx, v.tenant(), &customer, sub).await?;
    }
    let id = insert(
        &mut tx,
        v.tenant(),
        &customer,
        input.subscription_id.as_deref(),
        Plan {
            product: &product.id,
            sku: &product.sku,
            size: &size,
        },
        &name,
    )
    .await?;
    let pod = {
        let row = sqlx::query("SELECT * FROM cloudpods WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        row_to_pod(&row)?
    };
    let job = jobs::enqueue(db, &mut tx, pod_job(&pod, PROVISION)).await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("cloudpod.created")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("cloudpod", &id)
            .meta(serde_json::json!({ "name": name, "customerId": customer })),
    )
    .await?;
    tx.commit().await?;
    Ok((pod, job))
}

/// What an action on a pod needs and does.
struct Rule {
    kind: &'static str,
    /// The states it applies in.
    from: &'static [&'static str],
    /// The state it moves the pod to at once (else the job moves it).
    to: Option<&'static str>,
    operators_only: bool,
}

/// Every action, in the order pages show them.
pub const ACTIONS: [&str; 6] = ["reboot", "stop", "start", "suspend", "unsuspend", "destroy"];

fn rule(action: &str) -> Option<Rule> {
    let r = |kind, from, to, operators_only| {
        Some(Rule {
            kind,
            from,
            to,
            operators_only,
        })
    };
    match action {
        "suspend" => r(SUSPEND, &["active"], None, true),
        "unsuspend" => r(UNSUSPEND, &["suspended"], None, true),
        "start" => r(START, &["active"], None, false),
        "stop" => r(STOP, &["active"], None, false),
        "reboot" => r(REBOOT, &["active"], None, false),
        "destroy" => r(
            DESTROY,
            &[
                "pending",
                "provisioning",
                "active",
                "suspended",
                "failed",
                "terminating",
            ],
            Some("terminating"),
            true,
        ),
        _ => None,
    }
}

/// The actions that fit `pod` now, for an operator or (`operator` false) a
/// customer whose product allows `customer_actions`: what [`act`] accepts,
/// less what its power state makes pointless (starting a running pod) and
/// destroying one already on its way out. Pages offer exactly these.
pub fn actions_for(pod: &CloudPod, operator: bool, customer_actions: &[&str]) -> Vec<&'static str> {
    ACTIONS
        .into_iter()
        .filter(|a| {
            let Some(r) = rule(a) else { return false };
            let allowed = if r.operators_only {
                operator
            } else {
                operator || customer_actions.contains(a)
            };
            let fits = r.from.contains(&pod.status.as_str())
                && match *a {
                    "start" => pod.power != "running",
                    "stop" | "reboot" => pod.power == "running",
                    "destroy" => pod.status != "terminating",
                    _ => true,
                };
            allowed && fits
        })
        .collect()
}

/// Queue an action on a pod: `suspend`, `unsuspend`, `start`, `stop`,
/// `reboot` or `destroy`. Operators may do all; a customer may start,
/// stop and reboot its own active pods. 409 when the pod is not in a
/// state the action applies to, or while another job runs on it.
pub async fn act(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    action: &str,
) -> CoreResult<(CloudPod, String)> {
    let pod = get(db, v, id).await?;
    let Some(Rule {
        kind,
        from,
        to,
        operators_only,
    }) = rule(action)
    else {
        return Err(field_error("action", format!("{action} is not an action")));
    };
    if operators_only {
        v.require_operator("only operators suspend, resume or destroy CloudPods")?;
    }
    if v.only_customer().is_some() && !customer_actions(db, &pod).await?.contains(&action) {
        return Err(CoreError::Forbidden(format!(
            "this CloudPod's product does not let customers {action} it"
        )));
    }
    if !from.contains(&pod.status.as_str()) {
        return Err(CoreError::Conflict(format!(
            "the CloudPod is {}; it cannot {action} now",
            pod.status
        )));
    }
    let mut tx = db.begin_write().await?;
    if busy_on(&mut tx, id).await? {
        return Err(CoreError::Conflict(
            "another job runs on this CloudPod; try again when it ends".into(),
        ));
    }
    if let Some(to) = to {
        sqlx::query(
            "UPDATE cloudpods SET status = $1, updated_at = $2 WHERE tenant_id = $4 AND id = $3",
        )
        .bind(to)
        .bind(clock::now())
        .bind(id)
        .bind(v.tenant())
        .execute(&mut *tx)
        .await?;
    }
    let job = jobs::enqueue(db, &mut tx, pod_job(&pod, kind)).await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new(format!("cloudpod.{action}"))
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("cloudpod", id),
    )
    .await?;
    tx.commit().await?;
    Ok((get(db, v, id).await?, job))
}

async fn busy_on(conn: &mut sqlx::AnyConnection, id: &str) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE target_type = 'cloudpod' AND target_id = $1 AND status IN ('queued', 'running')",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Whether work on the pod is under way: it is being made or removed, or a
/// job is queued or running on it (its pages then follow it).
pub async fn working(db: &Db, pod: &CloudPod) -> CoreResult<bool> {
    if matches!(
        pod.status.as_str(),
        "pending" | "provisioning" | "terminating"
    ) {
        return Ok(true);
    }
    let mut conn = db.pool().acquire().await?;
    busy_on(&mut conn, &pod.id).await
}

async fn set(db: &Db, id: &str, sets: &str, binds: &[Option<&str>]) -> CoreResult<()> {
    let sql = format!(
        "UPDATE cloudpods SET {sets}, updated_at = ${} WHERE id = ${}",
        binds.len() + 1,
        binds.len() + 2
    );
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b.map(str::to_string));
    }
    q.bind(clock::now()).bind(id).execute(db.pool()).await?;
    Ok(())
}

/// A hypervisor for a new pod: an online `hypervisor` server of the
/// tenant with the fewest pods (a degraded or offline one only when there
/// is no other).
async fn place(db: &Db, tenant: &str) -> CoreResult<Option<Server>> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT s.id FROM servers s WHERE s.tenant_id = $1 AND (',' || s.roles || ',') LIKE '%,hypervisor,%' \
         ORDER BY CASE s.status WHEN 'online' THEN 0 WHEN 'degraded' THEN 1 ELSE 2 END, \
         (SELECT COUNT(*) FROM cloudpods p WHERE p.server_id = s.id AND p.status <> 'terminated'), s.name LIMIT 1",
    )
    .bind(tenant)
    .fetch_optional(db.pool())
    .await?;
    match id {
        Some(id) => servers::load(db, &id).await,
        None => Ok(None),
    }
}

/// Give the pod a node and an address, once (a retry keeps them).
async fn assign(db: &Db, pod: &CloudPod) -> Result<(Server, String), JobError> {
    if let (Some(sid), Some(ip)) = (&pod.server_id, &pod.ipv4) {
        if let Some(s) = servers::load(db, sid).await? {
            return Ok((s, ip.clone()));
        }
    }
    let server = place(db, &pod.tenant_id).await?.ok_or_else(|| {
        JobError::transient(
            "no_hypervisor",
            "no server has the hypervisor role yet; add one and retry",
        )
    })?;
    for _ in 0..5 {
        let used: Vec<String> = sqlx::query_scalar(
            "SELECT ipv4 FROM cloudpods WHERE server_id = $1 AND ipv4 IS NOT NULL AND status <> 'terminated'",
        )
        .bind(&server.id)
        .fetch_all(db.pool())
        .await
        .map_err(CoreError::from)?;
        let Some(ip) = server
            .hypervisor
            .pod_network()
            .hosts()
            .find(|ip| !used.contains(ip))
        else {
            return Err(JobError::transient(
                "no_address",
                format!("{} has no free address left", server.name),
            ));
        };
        // The unique index settles a race for the same address.
        let took = sqlx::query(
            "UPDATE cloudpods SET server_id = $1, ipv4 = $2, provider = $5, updated_at = $3 WHERE id = $4 AND ipv4 IS NULL",
        )
        .bind(&server.id)
        .bind(&ip)
        .bind(clock::now())
        .bind(&pod.id)
        .bind(server.hypervisor.kind())
        .execute(db.pool())
        .await;
        match took {
            Ok(r) if r.rows_affected() == 1 => return Ok((server, ip)),
            Ok(_) => {
                let now = load(db, &pod.id).await?;
                if let (Some(sid), Some(ip)) = (now.server_id, now.ipv4) {
                    if let Some(s) = servers::load(db, &sid).await? {
                        return Ok((s, ip));
                    }
                }
            }
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => continue,
            Err(e) => return Err(CoreError::from(e).into()),
        }
    }
    Err(JobError::transient(
        "no_address",
        "could not take an address; retry",
    ))
}

/// Where a node command's output lines go.
type LineSink = Box<dyn FnMut(Stream, &str) + Send>;

/// Run `work` with a line sink whose lines stream into the job's log as
/// they arrive.
async fn streamed<T, F, Fut>(ctx: &JobContext, work: F) -> T
where
    F: FnOnce(LineSink) -> Fut,
    Fut: Future<Output = T>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Stream, String)>();
    let sink: LineSink = Box::new(move |s, l| {
        let _ = tx.send((s, l.to_string()));
    });
    let run = work(sink);
    let drain = async {
        while let Some((s, l)) = rx.recv().await {
            let stream = match s {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            let _ = ctx.log(stream, l).await;
        }
    };
    let (out, ()) = tokio::join!(run, drain);
    out
}

/// Does the pod work: the `cloudpod.*` jobs, and the billing lifecycle's
/// `service.*` jobs for `cloudpod` products.
#[derive(Clone)]
pub struct CloudPods {
    pub nodes: Nodes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodPayload {
    cloud_pod_id: String,
}

impl CloudPods {
    fn db(&self) -> &Db {
        &self.nodes.db
    }

    async fn node_of(&self, pod: &CloudPod) -> Result<Option<Server>, JobError> {
        Ok(match &pod.server_id {
            Some(id) => servers::load(self.db(), id).await?,
            None => None,
        })
    }

    /// The pod's node and the provider that runs pods there.
    async fn host_of(
        &self,
        pod: &CloudPod,
    ) -> Result<Option<(Server, Box<dyn hypervisor::Hypervisor>)>, JobError> {
        let Some(node) = self.node_of(pod).await? else {
            return Ok(None);
        };
        let hv = hypervisor::of(&self.nodes, &node, &pod.id)?;
        Ok(Some((node, hv)))
    }

    /// Place, create, start; the pod ends `active` and running.
    pub async fn provision(&self, ctx: &JobContext, pod: &CloudPod) -> Result<(), JobError> {
        let db = self.db();
        set(
            db,
            &pod.id,
            "status = 'provisioning', last_error = NULL",
            &[],
        )
        .await?;
        ctx.progress(10, "choosing a node").await?;
        let (node, ip) = assign(db, pod).await?;
        let hv = hypervisor::of(&self.nodes, &node, &pod.id)?;
        ctx.log(
            "stdout",
            format!("on {} ({}) at {ip}", node.name, hv.kind()),
        )
        .await?;
        let mut guest = hypervisor::Guest {
            reference: pod.provider_ref.clone(),
            hostname: pod.hostname.clone().unwrap_or_else(|| pod.name.clone()),
            template: pod.template.clone(),
            cpu: pod.cpu,
            memory_mb: pod.memory_mb,
            disk_gb: pod.disk_gb,
            ipv4: ip,
            network: node.hypervisor.pod_network(),
        };
        let reserved = async {
            let r = hv.reserve(&pod.provider_ref, &guest).await?;
            if r != pod.provider_ref {
                // Kept before the guest is made: a retry finds it.
                set(db, &pod.id, "provider_ref = $1", &[Some(&r)]).await?;
            }
            Ok::<_, JobError>(r)
        }
        .await;
        let created = match reserved {
            Ok(r) => {
                guest.reference = r;
                ctx.progress(30, "creating the guest").await?;
                let hv = &hv;
                let guest = &guest;
                streamed(
                    ctx,
                    |mut sink| async move { hv.create(guest, &mut *sink).await },
                )
                .await
                .map_err(JobError::from)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = created {
            if let JobError::Permanent { message, .. } | JobError::Transient { message, .. } = &e {
                set(db, &pod.id, "last_error = $1", &[Some(message)]).await?;
            }
            return Err(e);
        }
        ctx.progress(80, "starting").await?;
        let reference = guest.reference.clone();
        let hv = &hv;
        streamed(ctx, |mut sink| async move {
            hv.set_power(&reference, Power::Running, &mut *sink).await
        })
        .await?;
        set(
            db,
            &pod.id,
            "status = 'active', power = 'running', last_error = NULL",
            &[],
        )
        .await?;
        ctx.progress(100, "running").await?;
        Ok(())
    }

    /// Bring the pod's guest to `power`, then record it (and `status`).
    async fn power(
        &self,
        ctx: &JobContext,
        pod: &CloudPod,
        power: Power,
        status: Option<&str>,
    ) -> Result<(), JobError> {
        let Some((_, hv)) = self.host_of(pod).await? else {
            // Never placed: nothing runs anywhere.
            if let Some(s) = status {
                set(self.db(), &pod.id, "status = $1", &[Some(s)]).await?;
            }
            return Ok(());
        };
        let reference = pod.provider_ref.clone();
        let hv = &hv;
        streamed(ctx, |mut sink| async move {
            hv.set_power(&reference, power, &mut *sink).await
        })
        .await?;
        match status {
            Some(s) => {
                set(
                    self.db(),
                    &pod.id,
                    "status = $1, power = $2",
                    &[Some(s), Some(power.as_str())],
                )
                .await?
            }
            None => set(self.db(), &pod.id, "power = $1", &[Some(power.as_str())]).await?,
        }
        Ok(())
    }

    async fn reboot(&self, ctx: &JobContext, pod: &CloudPod) -> Result<(), JobError> {
        let Some((_, hv)) = self.host_of(pod).await? else {
            return Ok(());
        };
        let reference = pod.provider_ref.clone();
        let hv = &hv;
        streamed(ctx, |mut sink| async move {
            hv.reboot(&reference, &mut *sink).await
        })
        .await?;
        set(self.db(), &pod.id, "power = 'running'", &[]).await?;
        Ok(())
    }

    pub async fn destroy(&self, ctx: &JobContext, pod: &CloudPod) -> Result<(), JobError> {
        if let Some((_, hv)) = self.host_of(pod).await? {
            let reference = pod.provider_ref.clone();
            let hv = &hv;
            streamed(ctx, |mut sink| async move {
                hv.destroy(&reference, &mut *sink).await
            })
            .await?;
        }
        set(
            self.db(),
            &pod.id,
            "status = 'terminated', power = 'stopped'",
            &[],
        )
        .await?;
        Ok(())
    }

    /// A job that will not be retried leaves its reason on the pod; a
    /// provisioning that failed marks the pod `failed`.
    /// Carry out `kind` on the pod.
    pub async fn apply(
        &self,
        ctx: &JobContext,
        kind: &str,
        pod: &CloudPod,
    ) -> Result<(), JobError> {
        use Power::*;
        match kind {
            PROVISION => self.provision(ctx, pod).await,
            SUSPEND => self.power(ctx, pod, Frozen, Some("suspended")).await,
            UNSUSPEND => self.power(ctx, pod, Running, Some("active")).await,
            START => self.power(ctx, pod, Running, None).await,
            STOP => self.power(ctx, pod, Stopped, None).await,
            REBOOT => self.reboot(ctx, pod).await,
            DESTROY => self.destroy(ctx, pod).await,
            other => Err(JobError::permanent(
                "invalid_input",
                format!("{other} is not a CloudPod job"),
            )),
        }
    }
}

#[async_trait]
impl JobHandler for CloudPods {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let p: PodPayload = ctx.payload()?;
        let pod = load(self.db(), &p.cloud_pod_id).await?;
        let kind = ctx.job.kind.clone();
        self.apply(ctx, &kind, &pod).await
    }

    /// A job that failed for good leaves its reason on the pod; a pod that
    /// could not be provisioned is `failed`.
    async fn failed(&self, ctx: &JobContext, _code: &str, message: &str) {
        if let Ok(p) = ctx.payload::<PodPayload>() {
            record_failure(
                self.db(),
                &p.cloud_pod_id,
                ctx.job.kind == PROVISION,
                message,
            )
            .await;
        }
    }
}

/// The billing lifecycle's `service.*` jobs for `cloudpod` products: a
/// paid subscription gets its pod (made once per subscription), dunning
/// freezes and destroys it, paying brings it back.
#[async_trait]
impl Provisioner for CloudPods {
    async fn run(&self, ctx: &JobContext, kind: &str, sub: &Subscription) -> Result<(), JobError> {
        use crate::billing::subscriptions as s;
        let db = self.db();
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM cloudpods WHERE subscription_id = $1 AND tenant_id = $2",
        )
        .bind(&sub.id)
        .bind(&sub.tenant_id)
        .fetch_optional(db.pool())
        .await
        .map_err(CoreError::from)?;
        let pod = match (existing, kind) {
            (Some(id), _) => load(db, &id).await?,
            (None, k) if k == s::PROVISION => {
                let product = sqlx::query(
                    "SELECT metadata, sku FROM products WHERE id = $1 AND tenant_id = $2",
                )
                .bind(&sub.product_id)
                .bind(&sub.tenant_id)
                .fetch_one(db.pool())
                .await
                .map_err(CoreError::from)?;
                let meta: String = product.try_get("metadata").map_err(CoreError::from)?;
                let meta: serde_json::Value =
                    serde_json::from_str(&meta).unwrap_or(serde_json::json!({}));
                let size = Size::of(&meta)?;
                let sku: String = product.try_get("sku").map_err(CoreError::from)?;
                let name = format!("pod-{}", &sub.id.replace('-', "")[..10]);
                let mut conn = db.pool().acquire().await.map_err(CoreError::from)?;
                let id = insert(
                    &mut conn,
                    &sub.tenant_id,
                    &sub.customer_id,
                    Some(&sub.id),
                    Plan {
                        product: &sub.product_id,
                        sku: &sku,
                        size: &size,
                    },
                    &name,
                )
                .await?;
                ctx.log("stdout", format!("CloudPod {name} for this subscription"))
                    .await?;
                load(db, &id).await?
            }
            // Nothing was ever made: nothing to suspend or end.
            (None, _) => return Ok(()),
        };
        let pod_kind = match kind {
            k if k == s::PROVISION => PROVISION,
            k if k == s::SUSPEND => SUSPEND,
            k if k == s::UNSUSPEND => UNSUSPEND,
            k if k == s::TERMINATE => DESTROY,
            // A plan change keeps the pod; new limits apply at its next rebuild.
            _ => return Ok(()),
        };
        if pod_kind == PROVISION && pod.status == "active" {
            return Ok(());
        }
        if pod_kind == DESTROY {
            set(db, &pod.id, "status = 'terminating'", &[]).await?;
        }
        self.apply(ctx, pod_kind, &pod).await
    }

    async fn failed(&self, ctx: &JobContext, sub: &Subscription, message: &str) {
        use crate::billing::subscriptions as s;
        let pod: Option<String> = sqlx::query_scalar(
            "SELECT id FROM cloudpods WHERE subscription_id = $1 AND tenant_id = $2",
        )
        .bind(&sub.id)
        .bind(&sub.tenant_id)
        .fetch_optional(self.db().pool())
        .await
        .ok()
        .flatten();
        if let Some(pod) = pod {
            record_failure(self.db(), &pod, ctx.job.kind == s::PROVISION, message).await;
        }
    }
}

/// A job on a pod failed for good: its reason goes on the pod, and a pod
/// that could not be provisioned is `failed`.
async fn record_failure(db: &Db, pod: &str, provisioning: bool, message: &str) {
    let result = if provisioning {
        set(
            db,
            pod,
            "status = 'failed', last_error = $1",
            &[Some(message)],
        )
        .await
    } else {
        set(db, pod, "last_error = $1", &[Some(message)]).await
    };
    if let Err(e) = result {
        tracing::warn!(pod, error = %e, "could not record a CloudPod job's failure");
    }
}

/// The latest job on a pod (operators), for its page.
pub async fn latest_job(db: &Db, v: &Viewer, id: &str) -> CoreResult<Option<jobs::Job>> {
    v.require_operator("jobs are visible to operators")?;
    get(db, v, id).await?;
    let row = sqlx::query(
        "SELECT * FROM jobs WHERE target_type = 'cloudpod' AND target_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(jobs::row_to_job).transpose()
}
