//! HTTP benchmark: Mooring against a bare axum + sqlx server that runs the
//! same queries, on SQLite and on PostgreSQL. Run with `./x bench` (it builds
//! the release binary, installs `wrk` and starts PostgreSQL), or
//! `cargo bench -p mooring-server --bench http` with a release `mooring` built
//! (`MOORING_BIN`, default `$CARGO_TARGET_DIR/release/mooring`) and
//! `MOORING_BENCH_PG_URL` pointing at a server where this user may
//! `CREATE DATABASE` (PostgreSQL is skipped without it).
//!
//! For each backend: a fresh database, `mooring serve` (the release binary)
//! on it, seeded only through Mooring's own HTTP API and portal (the first
//! admin, 55 customers, an access token, an API key, a portal session, a
//! JWT and a job). Then a reference server in this process (axum and a pool
//! of the same size on the same database, no authentication) calls the
//! same mooring-core functions as Mooring's handlers, so the SQL is the
//! same, and answers the same JSON or a plain HTML table. `wrk` drives both,
//! warm-up first (every answer checked to be 200 by a Lua script), then
//! Mooring, reference, Mooring, reference. Printed per case: req/s of each,
//! the ratio, p50 latencies and the target. Nothing is asserted about
//! speed; the exit status is 1 only when an answer was not 200 (or the
//! benchmark could not run).
//!
//! Sizes: `MOORING_BENCH_DURATION` (seconds per run, 5),
//! `MOORING_BENCH_WARMUP` (seconds, 2), `MOORING_BENCH_ROUNDS` (A B pairs,
//! 2), `MOORING_BENCH_THREADS` (wrk threads, 2), `MOORING_BENCH_CONNECTIONS`
//! (wrk connections, 32), `MOORING_BENCH_POOL` (database connections of
//! each server, 16: Mooring's default), `MOORING_BENCH_CASES` (a
//! comma-separated subset of the case names), `MOORING_BENCH_WRK` (the
//! `wrk` program).

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener as StdListener},
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, ensure, Context};
use axum::{
    extract::{Path as UrlPath, Query, State},
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use mooring_core::{
    billing::{self, customers},
    db::DbOptions,
    identity::{self, Principal, Scope, Via},
    jobs,
    paging::{PageQuery, MAX_SIZE},
    Db,
};
use reqwest::{redirect::Policy, Client, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Executor;

const ADMIN_EMAIL: &str = "bench-admin@example.com";
const ADMIN_PASSWORD: &str = "bench-admin-password-4711";
const CUSTOMERS: usize = 55;
const LIST_SIZE: usize = 50;

/// What a run is told by the environment.
struct Settings {
    bin: PathBuf,
    wrk: String,
    duration: u64,
    warmup: u64,
    rounds: u32,
    threads: u32,
    connections: u32,
    pool: u32,
    cases: Option<Vec<String>>,
    pg_url: Option<String>,
}

fn env_number<T>(name: &str, default: T, min: T) -> anyhow::Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.trim().parse::<T>() {
            Ok(n) if n >= min => Ok(n),
            _ => bail!("{name}={v:?}: expected a whole number of at least {min}"),
        },
    }
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let bin = match std::env::var_os("MOORING_BIN") {
            Some(p) => PathBuf::from(p),
            None => std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
                .join("release/mooring"),
        };
        ensure!(
            bin.is_file(),
            "no Mooring binary at {}: build it with `cargo build --release -p mooring-server` \
             (or `./x bench`), or point MOORING_BIN at one",
            bin.display()
        );
        let cases = std::env::var("MOORING_BENCH_CASES").ok().map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        });
        if let Some(cases) = &cases {
            let known: Vec<&str> = CASES.iter().map(|c| c.name).collect();
            for c in cases {
                ensure!(
                    known.contains(&c.as_str()),
                    "MOORING_BENCH_CASES: unknown case {c:?}; the cases are {}",
                    known.join(", ")
                );
            }
        }
        Ok(Settings {
            bin,
            wrk: std::env::var("MOORING_BENCH_WRK").unwrap_or_else(|_| "wrk".into()),
            duration: env_number("MOORING_BENCH_DURATION", 5, 1)?,
            warmup: env_number("MOORING_BENCH_WARMUP", 2, 1)?,
            rounds: env_number("MOORING_BENCH_ROUNDS", 2, 1)?,
            threads: env_number("MOORING_BENCH_THREADS", 2, 1)?,
            connections: env_number("MOORING_BENCH_CONNECTIONS", 32, 1)?,
            pool: env_number("MOORING_BENCH_POOL", 16, 1)?,
            cases,
            pg_url: std::env::var("MOORING_BENCH_PG_URL")
                .ok()
                .filter(|u| !u.trim().is_empty()),
        })
    }

    fn wants(&self, case: &Case) -> bool {
        self.cases
            .as_ref()
            .is_none_or(|c| c.iter().any(|n| n == case.name))
    }
}

/// The credential a case sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cred {
    Jwt,
    AccessToken,
    ApiKey,
    Cookie,
    Anonymous,
}

/// What an answer must hold besides status 200.
#[derive(Clone, Copy)]
enum Expect {
    /// The seeded job.
    Job,
    /// `LIST_SIZE` customers of `CUSTOMERS`.
    List,
    /// The table of all customers (one link each).
    Page,
    /// The sign-in form.
    Login,
}

struct Case {
    name: &'static str,
    label: &'static str,
    /// The path; `{job}` is replaced by the seeded job's id.
    path: &'static str,
    cred: Cred,
    expect: Expect,
    target: f64,
}

const CASES: [Case; 6] = [
    Case {
        name: "job-jwt",
        label: "GET /api/jobs/{id}, JWT",
        path: "/api/jobs/{job}",
        cred: Cred::Jwt,
        expect: Expect::Job,
        target: 0.8,
    },
    Case {
        name: "job-token",
        label: "GET /api/jobs/{id}, access token",
        path: "/api/jobs/{job}",
        cred: Cred::AccessToken,
        expect: Expect::Job,
        target: 0.8,
    },
    Case {
        name: "job-apikey",
        label: "GET /api/jobs/{id}, API key",
        path: "/api/jobs/{job}",
        cred: Cred::ApiKey,
        expect: Expect::Job,
        target: 0.8,
    },
    Case {
        name: "list",
        label: "GET /api/customers, 50 rows, JWT",
        path: "/api/customers?pageSize=50",
        cred: Cred::Jwt,
        expect: Expect::List,
        target: 0.8,
    },
    Case {
        name: "page",
        label: "GET /admin/customers, 55 rows, cookie",
        path: "/admin/customers",
        cred: Cred::Cookie,
        expect: Expect::Page,
        target: 0.7,
    },
    Case {
        name: "login",
        label: "GET /login, anonymous",
        path: "/login",
        cred: Cred::Anonymous,
        expect: Expect::Login,
        target: 0.7,
    },
];

/// Credentials and ids made through Mooring's API.
struct Seeded {
    jwt: String,
    access_token: String,
    api_key: String,
    cookie: String,
    job_id: String,
    admin_id: String,
}

/// A fresh database for one backend; PostgreSQL's is dropped at the end.
struct FreshDb {
    url: String,
    drop_with: Option<(String, String)>,
}

impl FreshDb {
    fn sqlite(dir: &Path) -> FreshDb {
        FreshDb {
            url: format!("sqlite://{}", dir.join("mooring.db").display()),
            drop_with: None,
        }
    }

    async fn postgres(admin_url: &str) -> anyhow::Result<FreshDb> {
        let name = format!("mooring_bench_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_db(admin_url).await?;
        admin
            .pool()
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("MOORING_BENCH_PG_URL: cannot create database {name}"))?;
        admin.close().await;
        let mut url = Url::parse(admin_url).context("MOORING_BENCH_PG_URL is not a URL")?;
        url.set_path(&format!("/{name}"));
        Ok(FreshDb {
            url: url.to_string(),
            drop_with: Some((admin_url.to_string(), name)),
        })
    }

    async fn drop_now(self) {
        if let Some((admin_url, name)) = self.drop_with {
            let dropped = async {
                let admin = admin_db(&admin_url).await?;
                admin
                    .pool()
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                admin.close().await;
                anyhow::Ok(())
            };
            if let Err(e) = dropped.await {
                eprintln!("warning: could not drop the benchmark database {name}: {e:#}");
            }
        }
    }
}

async fn admin_db(url: &str) -> anyhow::Result<Db> {
    Db::connect(
        url,
        DbOptions {
            max_connections: 1,
            ..DbOptions::default()
        },
    )
    .await
    .context("cannot connect to MOORING_BENCH_PG_URL")
}

/// `mooring serve` as a child process.
struct Mooring {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
}

impl Mooring {
    async fn start(s: &Settings, db_url: &str, dir: &Path) -> anyhow::Result<Mooring> {
        let port = free_port()?;
        let log = dir.join("mooring.log");
        let out = std::fs::File::create(&log).context("cannot create the server log")?;
        let err = out.try_clone()?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let mut cmd = tokio::process::Command::new(&s.bin);
        cmd.arg("serve")
            // Only what this run sets: no mooring.toml, no settings of the caller's shell.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", db_url)
            .env("MOORING_BIND", format!("127.0.0.1:{port}"))
            .env("MOORING_DATA_DIR", &data)
            .env("MOORING_DB_MAX_CONNECTIONS", s.pool.to_string())
            .env("MOORING_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("MOORING_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", s.bin.display()))?;
        let mut m = Mooring {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        m.wait_ready().await?;
        Ok(m)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "mooring serve exited ({status}) before answering:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(r) = client.get(format!("{}/api/health", self.base)).send().await {
                if r.status() == StatusCode::OK {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "mooring serve did not answer /api/health within 2 minutes:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// A client that shows redirects instead of following them.
fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("a reqwest client without TLS settings builds")
}

async fn expect_json(
    r: reqwest::Response,
    what: &str,
    status: StatusCode,
) -> anyhow::Result<Value> {
    let got = r.status();
    let body = r.text().await.unwrap_or_default();
    ensure!(
        got == status,
        "{what}: expected {status}, got {got}: {body}"
    );
    serde_json::from_str(&body).with_context(|| format!("{what}: the answer is not JSON: {body}"))
}

async fn jwt(c: &Client, base: &str) -> anyhow::Result<(String, String)> {
    let r = c
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await?;
    let b = expect_json(r, "POST /api/auth/login", StatusCode::OK).await?;
    let token = b["token"].as_str().context("login: no token")?.to_string();
    let id = b["user"]["id"]
        .as_str()
        .context("login: no user id")?
        .to_string();
    Ok((token, id))
}

/// The `name=value` of the cookie an answer sets.
fn set_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session_token="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// Everything the cases need, made through Mooring's own API and portal.
async fn seed(base: &str) -> anyhow::Result<Seeded> {
    let c = client();
    let (jwt, admin_id) = jwt(&c, base).await?;
    for i in 0..CUSTOMERS {
        let mut body = json!({
            "name": format!("Customer {i:02}"),
            "email": format!("customer{i:02}@example.com"),
            "phone": "+1-555-0100",
        });
        if i % 2 == 0 {
            body["address"] = json!({
                "line1": format!("{i} Harbour Road"), "city": "Miami", "state": "FL",
                "postalCode": "33101", "country": "US"
            });
        }
        let r = c
            .post(format!("{base}/api/customers"))
            .bearer_auth(&jwt)
            .json(&body)
            .send()
            .await?;
        expect_json(r, "POST /api/customers", StatusCode::CREATED).await?;
    }
    let r = c
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(&jwt)
        .json(&json!({ "name": "bench", "kind": "personal", "scopes": ["read"] }))
        .send()
        .await?;
    let b = expect_json(r, "POST /api/v1/tokens", StatusCode::CREATED).await?;
    let access_token = b["secret"].as_str().unwrap_or_default().to_string();
    ensure!(
        access_token.starts_with("mpat_"),
        "POST /api/v1/tokens: no mpat_ secret in {b}"
    );
    let r = c
        .post(format!("{base}/api/apikeys"))
        .bearer_auth(&jwt)
        .json(&json!({ "name": "bench" }))
        .send()
        .await?;
    let b = expect_json(r, "POST /api/apikeys", StatusCode::CREATED).await?;
    let api_key = b["secret"]
        .as_str()
        .context("POST /api/apikeys: no secret")?
        .to_string();
    // The portal's sign-in form, as a browser posts it.
    let r = c
        .post(format!("{base}/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await?;
    ensure!(
        r.status() == StatusCode::SEE_OTHER,
        "POST /login: expected 303, got {}",
        r.status()
    );
    let cookie = set_cookie(&r).context("POST /login set no session cookie")?;
    // A job: the admin portal's "check the system" button.
    let r = c
        .post(format!("{base}/admin/system/check"))
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, &cookie)
        .send()
        .await?;
    let location = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let job_id = location
        .strip_prefix("/admin/jobs/")
        .filter(|id| r.status() == StatusCode::SEE_OTHER && !id.is_empty())
        .with_context(|| {
            format!(
                "POST /admin/system/check: expected a redirect to the job, got {} to {location:?}",
                r.status()
            )
        })?
        .to_string();
    Ok(Seeded {
        jwt,
        access_token,
        api_key,
        cookie,
        job_id,
        admin_id,
    })
}

// ---------------------------------------------------------------------------
// The reference server: the same core calls, no authentication.

struct RefState {
    db: Db,
    /// The seeded admin, as Mooring's handlers see it.
    admin: Principal,
}

type Shared = State<Arc<RefState>>;

fn internal(e: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

async fn ref_job(State(s): Shared, UrlPath(id): UrlPath<String>) -> Response {
    match jobs::get(&s.db, &s.admin, &id).await {
        Ok(j) => Json(mooring_server::http::jobs::job_json(&j)).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    search: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn ref_customers(State(s): Shared, Query(q): Query<ListQuery>) -> Response {
    let listed = async {
        let page = PageQuery {
            page: q.page,
            page_size: q.page_size,
        }
        .check()?;
        let v = billing::viewer(&s.db, &s.admin).await?;
        customers::list(&s.db, &v, q.search.as_deref(), page).await
    };
    match listed.await {
        Ok((items, total)) => Json(json!({ "items": items, "total": total })).into_response(),
        Err(e) => internal(e),
    }
}

/// Text for HTML.
fn esc(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn html_head(title: &str, out: &mut String) {
    out.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>");
    out.push_str("<link rel=\"stylesheet\" href=\"/pkg/mooring.css\"/><title>");
    esc(title, out);
    out.push_str(" · Mooring</title></head><body>");
}

/// The admin customers page: the same first page as Mooring's (page 1 of
/// the largest size), as a plain table.
async fn ref_customers_page(State(s): Shared) -> Response {
    let listed = async {
        let page = PageQuery {
            page: Some(1),
            page_size: Some(MAX_SIZE),
        }
        .check()?;
        let v = billing::viewer(&s.db, &s.admin).await?;
        v.require_operator("customers are for operators")?;
        customers::list(&s.db, &v, Some(""), page).await
    };
    let (rows, _) = match listed.await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let mut out = String::with_capacity(16 * 1024);
    html_head("Customers", &mut out);
    out.push_str("<nav class=\"sidebar\"><a href=\"/admin\">Dashboard</a><a href=\"/admin/customers\">Customers</a>");
    out.push_str(
        "<a href=\"/admin/products\">Products</a><a href=\"/admin/invoices\">Invoices</a>",
    );
    out.push_str("<a href=\"/admin/jobs\">Jobs</a></nav><main><h1>Customers</h1>");
    out.push_str(
        "<form method=\"get\" action=\"/admin/customers\" class=\"inline search\" role=\"search\">",
    );
    out.push_str(
        "<input id=\"c-q\" name=\"q\" type=\"search\" placeholder=\"Name or email\" value=\"\"/>",
    );
    out.push_str("<button type=\"submit\" class=\"button\">Search</button></form>");
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"table\" data-testid=\"customers-table\">",
    );
    out.push_str("<thead><tr><th>Name</th><th>Email</th><th>Country</th><th>Status</th><th>Since</th></tr></thead><tbody>");
    for c in &rows {
        out.push_str("<tr><td data-label=\"Name\"><a href=\"/admin/customers/");
        esc(&c.id, &mut out);
        out.push_str("\">");
        esc(&c.name, &mut out);
        out.push_str("</a></td><td data-label=\"Email\">");
        esc(&c.email, &mut out);
        out.push_str("</td><td data-label=\"Country\">");
        esc(
            c.address.as_ref().map_or("—", |a| a.country.as_str()),
            &mut out,
        );
        out.push_str("</td><td data-label=\"Status\"><span class=\"");
        out.push_str(if c.status == "active" {
            "badge state-ok"
        } else {
            "badge state-down"
        });
        out.push_str("\">");
        esc(&c.status, &mut out);
        out.push_str("</span></td><td data-label=\"Since\">");
        esc(c.created_at.get(..10).unwrap_or(&c.created_at), &mut out);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    out.push_str("<section class=\"card form-card\"><h2>New customer</h2>");
    out.push_str("<form method=\"post\" action=\"/admin/customers\" class=\"form grid-form\">");
    for (id, label) in [
        ("name", "Name"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("line1", "Address"),
        ("city", "City"),
        ("country", "Country"),
        ("taxId", "Tax id"),
    ] {
        out.push_str("<div class=\"field\"><label for=\"c-");
        out.push_str(id);
        out.push_str("\">");
        out.push_str(label);
        out.push_str("</label><input id=\"c-");
        out.push_str(id);
        out.push_str("\" name=\"");
        out.push_str(id);
        out.push_str("\" value=\"\"/></div>");
    }
    out.push_str("<button type=\"submit\" class=\"button primary\">Add the customer</button></form></section>");
    out.push_str(
        "</main><script type=\"module\" src=\"/pkg/mooring-frontend.js\"></script></body></html>",
    );
    Html(out).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    error: Option<String>,
    email: Option<String>,
    next: Option<String>,
}

/// The sign-in page, rendered per request from its query like Mooring's.
async fn ref_login(Query(q): Query<LoginQuery>) -> Response {
    let mut out = String::with_capacity(4 * 1024);
    html_head("Sign in", &mut out);
    out.push_str("<div class=\"center-page\"><section class=\"card auth-card\" aria-labelledby=\"signin-title\">");
    out.push_str("<h1 id=\"signin-title\">Sign in to Mooring</h1>");
    out.push_str(
        "<p class=\"muted\">Operators land in the admin portal, customers in their portal.</p>",
    );
    if q.error.is_some() {
        out.push_str("<p class=\"error form-error\" role=\"alert\">Sign-in failed. Try again.</p>");
    }
    out.push_str("<form method=\"post\" action=\"/login\" class=\"form\"><input type=\"hidden\" name=\"next\" value=\"");
    esc(q.next.as_deref().unwrap_or_default(), &mut out);
    out.push_str("\"/><div class=\"field\"><label for=\"email\">Email</label>");
    out.push_str("<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required=\"\" value=\"");
    esc(q.email.as_deref().unwrap_or_default(), &mut out);
    out.push_str("\"/></div><div class=\"field\"><label for=\"password\">Password</label>");
    out.push_str("<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required=\"\"/></div>");
    out.push_str("<button type=\"submit\" class=\"button primary\">Sign in</button></form>");
    out.push_str("<p class=\"small\"><a href=\"/forgot-password\">Forgot your password?</a></p></section></div>");
    out.push_str(
        "<script type=\"module\" src=\"/pkg/mooring-frontend.js\"></script></body></html>",
    );
    Html(out).into_response()
}

/// Start the reference server on `db_url`; its address and its pool.
async fn start_reference(
    db_url: &str,
    pool: u32,
    admin_id: &str,
) -> anyhow::Result<(String, Db, tokio::task::JoinHandle<()>)> {
    let db = Db::connect(
        db_url,
        DbOptions {
            max_connections: pool,
            ..DbOptions::default()
        },
    )
    .await
    .context("the reference server cannot open the database")?;
    let user = identity::user_by_id(&db, admin_id)
        .await?
        .context("the seeded admin is not in the database")?;
    let state = Arc::new(RefState {
        db: db.clone(),
        admin: Principal::for_user(&user, Via::Jwt, Scope::Admin),
    });
    let app = Router::new()
        .route("/api/jobs/{id}", get(ref_job))
        .route("/api/customers", get(ref_customers))
        .route("/admin/customers", get(ref_customers_page))
        .route("/login", get(ref_login))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .context("the reference server cannot listen")?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("reference server stopped: {e}");
        }
    });
    Ok((format!("http://{addr}"), db, task))
}

// ---------------------------------------------------------------------------
// Driving: checks with reqwest, load with wrk.

/// One side of a case: where to send what.
struct Target<'a> {
    name: &'static str,
    base: &'a str,
    headers: Vec<(String, String)>,
}

fn headers_for(cred: Cred, seeded: &Seeded, jwt: &str) -> Vec<(String, String)> {
    match cred {
        Cred::Jwt => vec![("Authorization".into(), format!("Bearer {jwt}"))],
        Cred::AccessToken => vec![(
            "Authorization".into(),
            format!("Bearer {}", seeded.access_token),
        )],
        Cred::ApiKey => vec![("X-API-Key".into(), seeded.api_key.clone())],
        Cred::Cookie => vec![("Cookie".into(), seeded.cookie.clone())],
        Cred::Anonymous => Vec::new(),
    }
}

/// One request with reqwest: status 200 and the content the case is about.
async fn check(
    c: &Client,
    t: &Target<'_>,
    path: &str,
    case: &Case,
    seeded: &Seeded,
) -> anyhow::Result<()> {
    let mut req = c.get(format!("{}{path}", t.base));
    for (k, v) in &t.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await?;
    let status = r.status();
    let location = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| format!(" to {l}"))
        .unwrap_or_default();
    let body = r.text().await.unwrap_or_default();
    ensure!(
        status == StatusCode::OK,
        "{} answered {status}{location} to GET {path}: {}",
        t.name,
        body.chars().take(300).collect::<String>()
    );
    match case.expect {
        Expect::Job => {
            let v: Value = serde_json::from_str(&body)?;
            ensure!(
                v["id"] == seeded.job_id.as_str(),
                "{}: not the job: {v}",
                t.name
            );
        }
        Expect::List => {
            let v: Value = serde_json::from_str(&body)?;
            let n = v["items"].as_array().map_or(0, Vec::len);
            ensure!(
                n == LIST_SIZE && v["total"] == CUSTOMERS,
                "{}: expected {LIST_SIZE} of {CUSTOMERS} customers, got {n} of {}",
                t.name,
                v["total"]
            );
        }
        Expect::Page => {
            let n = body.matches("href=\"/admin/customers/").count();
            ensure!(
                n == CUSTOMERS,
                "{}: expected a table of {CUSTOMERS} customers, found {n} rows",
                t.name
            );
        }
        Expect::Login => {
            ensure!(
                body.contains("name=\"password\""),
                "{}: no sign-in form in the page",
                t.name
            );
        }
    }
    Ok(())
}

/// Counts answers that are not 200 (wrk only counts >= 400) in every thread.
const CHECK_LUA: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  bad = 0
  last = 0
end
function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    last = status
  end
end
function done(summary, latency, requests)
  local n, s = 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("bad")
    if t:get("last") ~= 0 then s = t:get("last") end
  end
  io.write(string.format("mooring-bench non-200: %d last: %d\n", n, s))
end
"#;

/// What one wrk run measured.
#[derive(Clone, Copy, Debug)]
struct Run {
    rps: f64,
    p50_ms: f64,
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return None,
    })
}

/// Parse wrk's report: the run, or why its answers do not count.
fn parse_wrk(out: &str) -> anyhow::Result<Run> {
    let mut rps = None;
    let mut p50 = None;
    for line in out.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = parse_duration_ms(v);
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            bail!("{} answers were not 200", v.trim());
        } else if let Some(v) = line.strip_prefix("mooring-bench non-200:") {
            let n: u64 = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            ensure!(n == 0, "{n} answers were not 200 (status{v})");
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            bail!("socket errors: {}", v.trim());
        }
    }
    match (rps, p50) {
        (Some(rps), Some(p50_ms)) => Ok(Run { rps, p50_ms }),
        _ => bail!("cannot read wrk's report:\n{out}"),
    }
}

async fn wrk(
    s: &Settings,
    t: &Target<'_>,
    path: &str,
    seconds: u64,
    lua: Option<&Path>,
) -> anyhow::Result<Run> {
    let mut cmd = tokio::process::Command::new(&s.wrk);
    cmd.arg(format!("-t{}", s.threads))
        .arg(format!("-c{}", s.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency");
    for (k, v) in &t.headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    if let Some(lua) = lua {
        cmd.arg("-s").arg(lua);
    }
    cmd.arg(format!("{}{path}", t.base))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = match cmd.output().await {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{}` is not installed: `apt-get install wrk` (./x bench installs it), \
             or set MOORING_BENCH_WRK",
            s.wrk
        ),
        Err(e) => return Err(anyhow!(e).context(format!("cannot run {}", s.wrk))),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "wrk failed ({}): {}{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_wrk(&stdout).with_context(|| format!("{} GET {path}", t.name))
}

fn mean(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
    runs.iter().map(f).sum::<f64>() / runs.len().max(1) as f64
}

/// The figures of one case.
struct Outcome {
    backend: &'static str,
    case: &'static str,
    target: f64,
    mooring: Vec<Run>,
    reference: Vec<Run>,
}

impl Outcome {
    fn ratio(&self) -> f64 {
        mean(&self.mooring, |r| r.rps) / mean(&self.reference, |r| r.rps)
    }
}

fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn print_header() {
    println!(
        "  {:<40} {:>13} {:>11} {:>7} {:>11} {:>11}  target",
        "case", "Mooring req/s", "ref req/s", "ratio", "p50 Mooring", "p50 ref"
    );
}

fn print_outcome(o: &Outcome) {
    let ratio = o.ratio();
    println!(
        "  {:<40} {:>13} {:>11} {:>6.2}× {:>8.2} ms {:>8.2} ms  ≥ {:.1}× {}",
        o.case,
        thousands(mean(&o.mooring, |r| r.rps)),
        thousands(mean(&o.reference, |r| r.rps)),
        ratio,
        mean(&o.mooring, |r| r.p50_ms),
        mean(&o.reference, |r| r.p50_ms),
        o.target,
        if ratio >= o.target {
            "(met)"
        } else {
            "(below)"
        }
    );
    let runs = |rs: &[Run]| {
        rs.iter()
            .map(|r| thousands(r.rps))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "  {:<40} runs: Mooring {}, reference {}",
        "",
        runs(&o.mooring),
        runs(&o.reference)
    );
}

/// One backend: start, seed, compare every case. Errors that are not a
/// failed answer end the backend; failed answers are collected in `failures`.
async fn bench_backend(
    s: &Settings,
    backend: &'static str,
    db: &FreshDb,
    dir: &Path,
    lua: &Path,
    failures: &mut Vec<String>,
) -> anyhow::Result<Vec<Outcome>> {
    let mooring = Mooring::start(s, &db.url, dir).await?;
    let result = async {
        let seeded = seed(&mooring.base)
            .await
            .context("seeding through the API")?;
        let (ref_base, ref_db, ref_task) =
            start_reference(&db.url, s.pool, &seeded.admin_id).await?;
        let mut outcomes = Vec::new();
        let c = client();
        print_header();
        for case in CASES.iter().filter(|c| s.wants(c)) {
            let path = case.path.replace("{job}", &seeded.job_id);
            let mut jwt = seeded.jwt.clone();
            let mut outcome = Outcome {
                backend,
                case: case.label,
                target: case.target,
                mooring: Vec::new(),
                reference: Vec::new(),
            };
            let mut failed = None;
            // Warm-up (every answer checked by the Lua script), then A B A B.
            for round in 0..=s.rounds {
                if case.cred == Cred::Jwt {
                    // A fresh JWT each time: they last 15 minutes.
                    jwt = self::jwt(&c, &mooring.base).await?.0;
                }
                let headers = headers_for(case.cred, &seeded, &jwt);
                let sides = [
                    Target {
                        name: "Mooring",
                        base: &mooring.base,
                        headers: headers.clone(),
                    },
                    Target {
                        name: "reference",
                        base: &ref_base,
                        headers,
                    },
                ];
                for (i, t) in sides.iter().enumerate() {
                    let run = async {
                        check(&c, t, &path, case, &seeded).await?;
                        let run = if round == 0 {
                            wrk(s, t, &path, s.warmup, Some(lua)).await?
                        } else {
                            wrk(s, t, &path, s.duration, None).await?
                        };
                        check(&c, t, &path, case, &seeded).await?;
                        anyhow::Ok(run)
                    };
                    match run.await {
                        Ok(run) if round > 0 => {
                            if i == 0 {
                                outcome.mooring.push(run);
                            } else {
                                outcome.reference.push(run);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            failed = Some(format!("{backend}, {}: {e:#}", case.label));
                            break;
                        }
                    }
                }
                if failed.is_some() {
                    break;
                }
            }
            match failed {
                Some(f) => {
                    println!("  {:<40} FAILED: {f}", case.label);
                    failures.push(f);
                }
                None => {
                    print_outcome(&outcome);
                    outcomes.push(outcome);
                }
            }
        }
        ref_task.abort();
        ref_db.close().await;
        anyhow::Ok(outcomes)
    }
    .await;
    if result.is_err() {
        eprintln!("Mooring's last log lines:\n{}", mooring.log_tail());
    }
    mooring.stop().await;
    result
}

async fn run(failures: &mut Vec<String>) -> anyhow::Result<()> {
    let s = Settings::from_env()?;
    let work = tempfile::Builder::new()
        .prefix("mooring-http-bench-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let lua = work.path().join("check.lua");
    std::fs::write(&lua, CHECK_LUA)?;
    println!(
        "Mooring HTTP benchmark: {} against bare axum + sqlx (same queries, no authentication)",
        s.bin.display()
    );
    println!(
        "wrk -t{} -c{} -d{}s after a {}s warm-up; Mooring, reference, alternating ({} runs each); \
         {} database connections each",
        s.threads, s.connections, s.duration, s.warmup, s.rounds, s.pool
    );
    let mut all = Vec::new();
    let mut backends: Vec<&'static str> = vec!["sqlite"];
    if s.pg_url.is_some() {
        backends.push("postgres");
    }
    for backend in backends {
        let dir = work.path().join(backend);
        std::fs::create_dir_all(&dir)?;
        let db = match (backend, &s.pg_url) {
            ("postgres", Some(url)) => FreshDb::postgres(url).await?,
            _ => FreshDb::sqlite(&dir),
        };
        println!();
        println!("{backend}:");
        let result = bench_backend(&s, backend, &db, &dir, &lua, failures).await;
        db.drop_now().await;
        all.extend(result.with_context(|| backend)?);
    }
    if s.pg_url.is_none() {
        println!();
        println!("postgres: skipped (set MOORING_BENCH_PG_URL, or run ./x bench)");
    }
    // The figures as a Markdown table (the README records them).
    println!();
    println!("| backend | case | Mooring req/s | reference req/s | ratio | target |");
    println!("|---|---|---|---|---|---|");
    for o in &all {
        println!(
            "| {} | {} | {} | {} | {:.2}× | ≥ {:.1}× |",
            if o.backend == "sqlite" {
                "SQLite"
            } else {
                "PostgreSQL"
            },
            o.case,
            thousands(mean(&o.mooring, |r| r.rps)),
            thousands(mean(&o.reference, |r| r.rps)),
            o.ratio(),
            o.target
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // has no release server or wrk to drive: nothing to do then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("http benchmark: run it with `cargo bench -p mooring-server --bench http` or `./x bench`");
        return ExitCode::SUCCESS;
    }
    let mut failures = Vec::new();
    let result = run(&mut failures).await;
    for f in &failures {
        eprintln!("error: {f}");
    }
    match result {
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Ok(()) if !failures.is_empty() => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
    }
}
