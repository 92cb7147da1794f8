//! The authorization walk: every JSON route, every portal form and every
//! server function of the route table, called as
//! - an anonymous caller,
//! - an admin of another tenant, with this tenant's real ids of every kind,
//! - a customer of this tenant, with another customer's ids,
//! - a read-scoped token of this tenant, on every mutation.
//!
//! Each call must be refused (401/403/404/409/422, a redirect to sign-in, or
//! a form answered with an error message), except where a route acts only
//! on the caller's own things: lists, which must then show none of the ids
//! aimed at, and the short allow-list below. After each caller's walk the
//! tenant's data is compared with a snapshot taken before: nothing changed.

use std::collections::BTreeMap;

use crate::common::{portal_session, TestServer};
use mooring_core::{
    billing::{customers, invoices},
    cloudpods::{self, PodInput},
    identity::{
        access_tokens::{self, Kind, NewToken},
        api_keys, Principal, Role, Scope, Via,
    },
    testkit::{self, shop},
    users, Db, DEFAULT_TENANT_ID,
};
use mooring_server::http::{auth::Access, routes, routes::RouteInfo};
use reqwest::{header, redirect::Policy, Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::{Column, Row};

const PASSWORD: &str = "correct horse battery";

/// Routes that may succeed for a caller although they name an id aimed at:
/// the tenant's catalog is for its customers to read.
const CUSTOMER_MAY: &[(&str, &str)] = &[("GET", "/api/products/{id}")];

/// Ids of one tenant's things, by kind.
#[derive(Debug, Clone, Default)]
struct Ids(BTreeMap<&'static str, String>, Vec<&'static str>);

impl Ids {
    fn get(&self, kind: &str) -> String {
        self.0
            .get(kind)
            .cloned()
            .unwrap_or_else(|| "00000000-0000-0000-0000-00000000dead".into())
    }

    /// The kind of thing a path's `{id}` names.
    fn kind_of(path: &str) -> &'static str {
        let seg = path
            .trim_start_matches("/api/v1/")
            .trim_start_matches("/api/")
            .trim_start_matches("/admin/")
            .trim_start_matches("/portal/")
            .split('/')
            .next()
            .unwrap_or_default();
        match seg {
            "customers" => "customer",
            "products" => "product",
            "orders" => "order",
            "invoices" => "invoice",
            "subscriptions" => "subscription",
            "cloudpods" => "cloudpod",
            "servers" => "server",
            "jobs" => "job",
            "users" => "user",
            "apikeys" | "api-keys" => "key",
            "tokens" => "token",
            "tenants" => "tenant",
            _ => "other",
        }
    }

    /// `path` with its parameters filled in.
    fn fill(&self, path: &str) -> String {
        let kind = Self::kind_of(path);
        let action = match kind {
            "cloudpod" => "stop",
            "job" => "cancel",
            "user" => "disable",
            "product" => "inactive",
            "invoice" => "paid",
            "server" => "delete",
            _ => "disable",
        };
        path.replace("{id}", &self.get(kind))
            .replace("{token_id}", &self.get("token"))
            .replace("{action}", action)
            .replace("{status}", action)
            .replace("{file}", "mpanel.yaml")
    }

    /// The ids a caller must not see: all, but those it may (`self.1`).
    fn all(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| !self.1.contains(k))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The JSON body a mutation is sent with: what the route needs, aimed at `ids`.
fn json_body(method: &Method, path: &str, ids: &Ids) -> Value {
    match (method.as_str(), path) {
        ("POST", "/api/cloudpods") => json!({
            "customerId": ids.get("customer"), "subscriptionId": ids.get("subscription"),
            "productId": ids.get("product"), "name": "walk-pod" }),
        ("POST", "/api/orders") => json!({
            "customerId": ids.get("customer"),
            "items": [{ "productId": ids.get("product"), "billingCycle": "monthly" }] }),
        ("POST", "/api/payments/session") => json!({ "invoiceId": ids.get("invoice") }),
        ("PATCH", _) => json!({ "status": "cancelled" }),
        ("POST", "/api/subscriptions/{id}/change") => json!({ "productId": ids.get("product2") }),
        ("PUT", "/api/customers/{id}") | ("PUT", "/api/products/{id}") => {
            json!({ "name": "Walked" })
        }
        ("PUT", "/api/users/{id}") => json!({ "name": "Walked" }),
        ("PUT", "/api/servers/{id}") => json!({ "name": "walked" }),
        _ => json!({}),
    }
}

/// The form a portal form is posted with, aimed at `ids`.
fn form_body(ids: &Ids) -> Vec<(&'static str, String)> {
    vec![
        ("name", "Walked".into()),
        ("email", "walked@example.com".into()),
        ("customerId", ids.get("customer")),
        ("subscriptionId", ids.get("subscription")),
        ("productId", ids.get("product2")),
        ("invoiceId", ids.get("invoice")),
        ("billingCycle", "monthly".into()),
    ]
}

/// A server function's arguments (URL-encoded), aimed at `ids`.
fn fn_args(path: &str, ids: &Ids) -> Vec<(&'static str, String)> {
    let kind = match path.rsplit('/').next().unwrap_or_default() {
        "nodes_server" => "server",
        "admin_job" => "job",
        "billing_invoice" => "invoice",
        "billing_customer" => "customer",
        "billing_product" => "product",
        "cloudpod_detail" => "cloudpod",
        _ => return Vec::new(),
    };
    vec![("id", ids.get(kind))]
}

/// Every row of the tenant's data that a call could change, as text.
async fn snapshot(db: &Db, tenant: &str) -> BTreeMap<String, Vec<String>> {
    const TABLES: &[&str] = &[
        "customers",
        "products",
        "product_prices",
        "orders",
        "invoices",
        "subscriptions",
        "cloudpods",
        "servers",
        "jobs",
        "users",
        "api_keys",
        "access_tokens",
        "coupons",
        "tax_rates",
        "tenants",
        "credit_entries",
        "payment_sessions",
    ];
    let mut out = BTreeMap::new();
    for t in TABLES {
        let sql = if *t == "tenants" {
            format!("SELECT * FROM {t} WHERE id = $1 ORDER BY id")
        } else if *t == "product_prices" {
            format!("SELECT * FROM {t} WHERE product_id IN (SELECT id FROM products WHERE tenant_id = $1) ORDER BY product_id, cycle, currency")
        } else {
            format!("SELECT * FROM {t} WHERE tenant_id = $1 ORDER BY id")
        };
        let rows = sqlx::query(&sql)
            .bind(tenant)
            .fetch_all(db.pool())
            .await
            .unwrap();
        let rows = rows
            .iter()
            .map(|r| {
                r.columns()
                    .iter()
                    .filter(|c| !matches!(c.name(), "last_used_at" | "updated_at"))
                    .map(|c| {
                        let i = c.ordinal();
                        let v = r
                            .try_get::<Option<String>, _>(i)
                            .map(|v| v.unwrap_or_else(|| "null".into()))
                            .or_else(|_| r.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| r.try_get::<Option<f64>, _>(i).map(|v| format!("{v:?}")))
                            .unwrap_or_else(|_| "?".into());
                        format!("{}={v}", c.name())
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        out.insert(t.to_string(), rows);
    }
    out
}

/// A caller's credentials.
#[derive(Clone)]
struct Caller {
    name: &'static str,
    bearer: Option<String>,
    cookie: Option<String>,
}

/// What one call came to.
enum Outcome {
    Refused,
    /// It went through; the body (to look for the ids aimed at).
    Answered(String),
}

async fn call(s: &TestServer, who: &Caller, r: &RouteInfo, ids: &Ids) -> (String, Outcome) {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let path = ids.fill(&r.path);
    let mut req = client
        .request(r.method.clone(), s.url(&path))
        .header("sec-fetch-site", "same-origin");
    if let Some(b) = &who.bearer {
        req = req.bearer_auth(b);
    }
    if let Some(c) = &who.cookie {
        req = req.header(header::COOKIE, c);
    }
    req = if r.is_form() {
        req.form(&form_body(ids))
    } else if r.is_server_fn() {
        req.form(&fn_args(&r.path, ids))
    } else if r.method != Method::GET {
        req.json(&json_body(&r.method, &r.path, ids))
    } else {
        req
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let label = format!("{} {} {path} → {status}", who.name, r.method);
    if matches!(
        status.as_u16(),
        400 | 401 | 403 | 404 | 405 | 409 | 415 | 422
    ) {
        return (label, Outcome::Refused);
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR && r.is_server_fn() {
        // Leptos answers a server function's error with 500 and its message.
        let text = resp.text().await.unwrap_or_default();
        assert!(
            !text.contains("database error"),
            "{label}: internal text shown: {text}"
        );
        return (label, Outcome::Refused);
    }
    if status == StatusCode::SEE_OTHER {
        let to = resp.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_string();
        if to.starts_with("/login") || who.cookie.is_none() {
            return (label, Outcome::Refused);
        }
        // A form went back to its page: with an error message, or it worked.
        let page = client
            .get(s.url(&to))
            .header(header::COOKIE, who.cookie.as_deref().unwrap_or_default())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("flash flash-error") {
            return (label, Outcome::Refused);
        }
        return (format!("{label} {to}"), Outcome::Answered(page));
    }
    assert!(
        status.is_success(),
        "{label}: neither refused nor answered: {}",
        resp.text().await.unwrap_or_default()
    );
    (
        label,
        Outcome::Answered(resp.text().await.unwrap_or_default()),
    )
}

/// Walk every route as `who`, aiming at `aimed`; `may` says which routes may
/// answer (then without any of the ids aimed at, unless `shows` allows).
async fn walk(
    s: &TestServer,
    who: &Caller,
    routes: &[RouteInfo],
    aimed: &Ids,
    may: impl Fn(&RouteInfo) -> bool,
) -> usize {
    let mut walked = 0;
    for r in routes {
        if matches!(r.access, Access::Public | Access::PublicForm) {
            continue;
        }
        walked += 1;
        let (label, outcome) = call(s, who, r, aimed).await;
        if let Outcome::Answered(body) = outcome {
            assert!(may(r), "{label}: should have been refused: {body:.300}");
            let shown: Vec<_> = aimed
                .all()
                .into_iter()
                .filter(|id| body.contains(id.as_str()))
                .collect();
            let catalog = CUSTOMER_MAY
                .iter()
                .any(|(m, p)| r.method.as_str() == *m && r.path == *p);
            assert!(
                shown.is_empty() || catalog,
                "{label}: shows ids aimed at: {shown:?}"
            );
        }
    }
    walked
}

fn has_param(r: &RouteInfo) -> bool {
    r.path.contains('{')
}

fn lists(r: &RouteInfo) -> bool {
    (r.method == Method::GET && !has_param(r)) || (r.is_server_fn() && !has_param(r))
}

async fn setup(db: &Db) -> (Ids, Ids) {
    users::ensure_admin(db, "ops@example.com", SecretString::from(PASSWORD))
        .await
        .unwrap();
    let boss = mooring_core::identity::user_by_email(db, "ops@example.com")
        .await
        .unwrap()
        .unwrap();
    let platform = Principal::for_user(&boss, Via::Session, Scope::Admin);
    let admin = shop::admin();
    let mut ids = Ids::default();
    let p1 = shop::product(
        db,
        &admin,
        shop::monthly("Mini", "cloudpod", "CPOD-MINI", "9.99"),
    )
    .await;
    let p2 = shop::product(
        db,
        &admin,
        shop::monthly("Maxi", "cloudpod", "CPOD-MAXI", "19.99"),
    )
    .await;
    let mut customer_ids = Vec::new();
    for (name, email) in [("Ann", "ann@example.com"), ("Bob", "bob@example.com")] {
        let c = shop::customer(db, &admin, name, email).await;
        customers::create_login(db, &admin, "op", &c.id, SecretString::from(PASSWORD))
            .await
            .unwrap();
        customer_ids.push(c.id);
    }
    let bob = customer_ids[1].clone();
    let (order, inv, sub) = shop::order(db, &admin, &bob, &p1.id).await;
    invoices::set_status(db, &admin, "op", &inv.id, "paid")
        .await
        .unwrap();

    let (pod, job) = cloudpods::create(
        db,
        &admin,
        "op",
        PodInput {
            customer_id: Some(bob.clone()),
            product_id: Some(p1.id.clone()),
            name: Some("bobs-pod".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (token, _) = access_tokens::create(
        db,
        &platform,
        NewToken {
            name: "ours".into(),
            kind: Kind::Service,
            scopes: vec![Scope::Admin],
            expires_at: None,
        },
        None,
    )
    .await
    .unwrap();
    let (key, _) = api_keys::create(db, DEFAULT_TENANT_ID, "ours", None, None)
        .await
        .unwrap();
    // An operator of this tenant to aim at (the platform admin acts on
    // other tenants too, so its id shows in their audit trails by right).
    let sam = users::create(
        db,
        &platform,
        users::NewUser {
            name: "Sam".into(),
            email: "sam@example.com".into(),
            role: Role::Staff,
            status: None,
            password: SecretString::from(PASSWORD),
        },
        None,
    )
    .await
    .unwrap();
    let server: String = {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO servers (id, tenant_id, name, host, ip, port, ssh_user, roles, status, created_at, updated_at) \
             VALUES ($1, $2, 'node-1', '127.0.0.1', '127.0.0.1', 1, 'root', 'hypervisor', 'offline', 'x', 'x')",
        )
        .bind(&id)
        .bind(DEFAULT_TENANT_ID)
        .execute(db.pool())
        .await
        .unwrap();
        id
    };
    for (k, v) in [
        ("customer", bob.clone()),
        ("product", p1.id.clone()),
        ("product2", p2.id.clone()),
        ("order", order.id.clone()),
        ("invoice", inv.id.clone()),
        ("subscription", sub),
        ("cloudpod", pod.id.clone()),
        ("job", job),
        ("user", sam.id.clone()),
        ("key", key.id.clone()),
        ("token", token.id.clone()),
        ("server", server),
        ("tenant", DEFAULT_TENANT_ID.to_string()),
    ] {
        ids.0.insert(k, v);
    }
    // What a customer of this tenant aims at: Bob's things, with the
    // tenant's catalog and operators' ids.
    let mut bobs = ids.clone();
    // Her own tenant, and its catalog, she sees by right.
    bobs.1 = vec!["tenant", "product", "product2"];
    // Another tenant, with an admin.
    let other = mooring_core::tenants::create(db, &platform, "Other", None, None)
        .await
        .unwrap();
    let theirs = Principal {
        user_id: String::new(),
        tenant_id: other.id.clone(),
        role: Role::Admin,
        platform_admin: false,
        scope: Scope::Admin,
        via: Via::Session,
    };
    users::create(
        db,
        &theirs,
        users::NewUser {
            name: "Eve".into(),
            email: "eve@other.test".into(),
            role: Role::Admin,
            status: None,
            password: SecretString::from(PASSWORD),
        },
        None,
    )
    .await
    .unwrap();
    (ids, bobs)
}

async fn authorization_walk(t: testkit::TestDb) {
    let db = t.db.clone();
    let (ids, bobs) = setup(&db).await;
    let s = TestServer::start(t).await;
    let table = routes().list();
    assert!(table.iter().any(|r| r.is_form()) && table.iter().any(|r| r.is_server_fn()));
    let before = snapshot(&db, DEFAULT_TENANT_ID).await;
    let unchanged = |who: &'static str| {
        let db = db.clone();
        let before = before.clone();
        async move {
            let after = snapshot(&db, DEFAULT_TENANT_ID).await;
            for (table, rows) in &before {
                assert_eq!(
                    rows, &after[table],
                    "{who}'s walk changed this tenant's {table}"
                );
            }
        }
    };

    // Nobody: everything but the public routes asks for credentials.
    let anonymous = Caller {
        name: "anonymous",
        bearer: None,
        cookie: None,
    };
    let n = walk(&s, &anonymous, &table, &ids, |_| false).await;
    assert!(n > 100, "the walk covers the table ({n} routes)");
    unchanged("anonymous").await;

    // Another tenant's admin, with this tenant's ids: its own lists and
    // creations work, and show none of ours.
    let eve = Caller {
        name: "other tenant's admin",
        bearer: Some(s.jwt("eve@other.test", PASSWORD).await),
        cookie: Some(portal_session(&s, "eve@other.test", PASSWORD).await),
    };
    walk(&s, &eve, &table, &ids, |r| lists(r) || !has_param(r)).await;
    unchanged("the other tenant's admin").await;

    // Ann, a customer, with Bob's ids: her own lists and orders only.
    let ann = Caller {
        name: "customer Ann",
        bearer: Some(s.jwt("ann@example.com", PASSWORD).await),
        cookie: Some(portal_session(&s, "ann@example.com", PASSWORD).await),
    };
    walk(&s, &ann, &table, &bobs, |r| {
        lists(r)
            || CUSTOMER_MAY
                .iter()
                .any(|(m, p)| r.method.as_str() == *m && r.path == *p)
    })
    .await;
    unchanged("customer Ann").await;

    // A read-only token of this tenant: no mutation at all.
    let boss = mooring_core::identity::user_by_email(&db, "ops@example.com")
        .await
        .unwrap()
        .unwrap();
    let (_, read) = access_tokens::create(
        &db,
        &Principal::for_user(&boss, Via::Session, Scope::Admin),
        NewToken {
            name: "reader".into(),
            kind: Kind::Personal,
            scopes: vec![Scope::Read],
            expires_at: None,
        },
        None,
    )
    .await
    .unwrap();
    let before = snapshot(&db, DEFAULT_TENANT_ID).await;
    let reader = Caller {
        name: "read token",
        bearer: Some(read),
        cookie: None,
    };
    let mutations: Vec<RouteInfo> = table
        .iter()
        .filter(|r| r.method != Method::GET)
        .cloned()
        .collect();
    walk(&s, &reader, &mutations, &ids, |_| false).await;
    let after = snapshot(&db, DEFAULT_TENANT_ID).await;
    assert_eq!(before, after, "the read token changed nothing");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_walk_on_sqlite() {
    authorization_walk(testkit::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_walk_on_postgres() {
    authorization_walk(testkit::postgres().await).await;
}

/// The table and Leptos agree on the server functions: each one Leptos
/// serves is in the table (so it is gated), and the table lists no other.
#[test]
fn every_server_function_is_in_the_table() {
    let mut served: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect();
    served.sort();
    let mut listed: Vec<String> = routes()
        .list()
        .into_iter()
        .filter(|r| r.is_server_fn())
        .map(|r| r.path)
        .collect();
    listed.sort();
    assert_eq!(served, listed);
}
