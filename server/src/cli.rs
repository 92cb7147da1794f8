//! The command line: `serve` (default), `migrate`, `admin create`, `openapi`.

use std::{
    io::{BufRead, Write},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::Instant,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use leptos::prelude::LeptosOptions;
use mooring_core::{db::DbOptions, users, Db};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    assets,
    config::Config,
    contracts::Contract,
    http,
    state::{AppState, Services},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "mooring",
    version,
    about = "Mooring: hosting, billing and operations"
)]
struct Cli {
    /// Configuration file (default: ./mooring.toml when it exists).
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: portals, APIs and background work (the default).
    Serve {
        /// Serve HTTP only; leave the job queue to `mooring worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run only background work (jobs), no HTTP: scale workers apart from the web.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage operator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Check the audit trail's hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage a tenant's API keys (X-API-Key on the tenant surface).
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Print a surface's OpenAPI contract.
    Openapi {
        /// Which surface.
        #[arg(value_enum)]
        surface: Contract,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the whole chain; exit 1 at the first edited or deleted event.
    Verify,
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Create a key; its secret is printed once.
    Create {
        /// Tenant id or slug.
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        name: String,
    },
    /// List the live keys of a tenant.
    List {
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Revoke a key.
    Revoke {
        #[arg(long, default_value = "default")]
        tenant: String,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create the platform admin, or reset its password if the account exists.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi { surface }) = &cli.command {
        print!("{}", surface.yaml());
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve { no_worker: false }) {
            Command::Serve { no_worker } => serve(config, !no_worker).await,
            Command::Worker => worker_only(config).await,
            Command::Migrate => migrate(config).await,
            Command::Admin {
                command:
                    AdminCommand::Create {
                        email,
                        password_stdin,
                    },
            } => admin_create(config, email, password_stdin).await,
            Command::Apikey { command } => apikey(config, command).await,
            Command::Audit {
                command: AuditCommand::Verify,
            } => audit_verify(config).await,
            Command::Openapi { .. } => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(
        config.database_url().expose_secret(),
        DbOptions {
            max_connections: config.db_max_connections,
            ..DbOptions::default()
        },
    )
    .await
    .context("cannot open the database")?;
    db.migrate().await.context("cannot apply migrations")?;
    Ok(db)
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = open_db(&config).await?;
    let status = db.migration_status().await?;
    println!(
        "database ({}) is at migration {}",
        db.backend().name(),
        status.latest_applied.unwrap_or_default()
    );
    db.close().await;
    Ok(())
}

async fn admin_create(config: Config, email: String, password_stdin: bool) -> anyhow::Result<()> {
    let db = open_db(&config).await?;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        (
            SecretString::from(line.trim_end_matches(['\r', '\n']).to_string()),
            false,
        )
    } else {
        (mooring_core::password::generate(20), true)
    };
    let outcome = users::ensure_admin(&db, &email, password.clone()).await?;
    let verb = match outcome {
        users::AdminOutcome::Created { .. } => "created",
        users::AdminOutcome::Reset { .. } => "reset the password of",
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{verb} platform admin {}",
        users::normalize_email(&email)?
    )?;
    if generated {
        writeln!(out, "password (shown once): {}", password.expose_secret())?;
    }
    db.close().await;
    Ok(())
}

async fn audit_verify(config: Config) -> anyhow::Result<()> {
    use mooring_core::audit::{verify, Verdict};
    let db = open_db(&config).await?;
    let verdict = verify(&db).await?;
    db.close().await;
    match verdict {
        Verdict::Intact { events } => {
            println!("audit trail intact: {events} events");
            Ok(())
        }
        Verdict::Broken { seq, reason } => {
            anyhow::bail!("audit trail broken at event {seq}: {reason}")
        }
    }
}

async fn apikey(config: Config, command: ApikeyCommand) -> anyhow::Result<()> {
    use mooring_core::identity::api_keys;
    let db = open_db(&config).await?;
    let tenant_of = |t: String| {
        let db = db.clone();
        async move {
            api_keys::resolve_tenant(&db, &t)
                .await
                .with_context(|| format!("no tenant with id or slug '{t}'"))
        }
    };
    let mut out = std::io::stdout().lock();
    match command {
        ApikeyCommand::Create { tenant, name } => {
            let tenant = tenant_of(tenant).await?;
            let (key, secret) = api_keys::create(&db, &tenant, &name, None, None).await?;
            writeln!(out, "created API key {} ({})", key.id, key.name)?;
            writeln!(out, "secret (shown once; send it as X-API-Key): {secret}")?;
        }
        ApikeyCommand::List { tenant } => {
            let tenant = tenant_of(tenant).await?;
            for k in api_keys::list(&db, &tenant).await? {
                writeln!(
                    out,
                    "{}  {}  created {}  last used {}",
                    k.id,
                    k.name,
                    k.created_at,
                    k.last_used_at.as_deref().unwrap_or("never")
                )?;
            }
        }
        ApikeyCommand::Revoke { tenant, id } => {
            let tenant = tenant_of(tenant).await?;
            api_keys::revoke(&db, &tenant, &id, None, None)
                .await
                .with_context(|| format!("no live key {id} in that tenant"))?;
            writeln!(out, "revoked API key {id}")?;
        }
    }
    db.close().await;
    Ok(())
}

/// The first admin on a fresh database, so a default install is never open.
async fn bootstrap_admin(config: &Config, db: &Db) -> anyhow::Result<()> {
    if users::count(db).await? > 0 {
        return Ok(());
    }
    let email = config
        .admin_email
        .clone()
        .unwrap_or_else(|| "admin@localhost".into());
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (mooring_core::password::generate(20), true),
    };
    users::ensure_admin(db, &email, password.clone())
        .await
        .context("cannot create the first admin")?;
    println!("Created the first admin: {email}");
    if generated {
        println!(
            "  password (shown once, change it after signing in): {}",
            password.expose_secret()
        );
    }
    Ok(())
}

/// The job worker of this build: the job types it knows.
fn job_worker(
    db: &Db,
    config: &Config,
    nodes: mooring_core::nodes::servers::Nodes,
    mailer: Arc<mooring_core::mail::Mailer>,
) -> mooring_core::jobs::Worker {
    use mooring_core::{
        billing,
        jobs::{noop, system_check, Registry, Worker},
    };
    // Provisioners register their job types here as they arrive; until then a
    // job of an unknown type fails with `handler_unavailable` (retry works later).
    let registry = Registry::new()
        .register(
            system_check::KIND,
            system_check::SystemCheck {
                data_dir: config.data_dir.clone(),
            },
        )
        .register(noop::KIND, noop::Noop)
        .register(
            mooring_core::idempotency::SWEEP_KIND,
            mooring_core::idempotency::Sweep,
        )
        .register(
            mooring_core::nodes::heartbeat::KIND,
            mooring_core::nodes::heartbeat::Heartbeat {
                nodes: nodes.clone(),
            },
        )
        .register(
            billing::lifecycle::RENEWALS,
            billing::lifecycle::Renewals {
                // Checked at startup (serve, worker).
                policy: config.billing_policy().unwrap_or_default(),
            },
        );
    let portal_url = config.public_base();
    let registry = registry.register(
        billing::notices::KIND,
        billing::notices::Notifier { mailer, portal_url },
    );
    // Saved cards are charged only with Stripe configured (the renewals
    // sweep enqueues no charge otherwise).
    let registry = match config.stripe() {
        Some(config) => {
            registry.register(billing::stripe::CHARGE, billing::stripe::Charger { config })
        }
        None => registry,
    };
    // CloudPod jobs, and the service jobs of every product type (provisioners
    // plug in here as they arrive; other types fail `provisioner_unavailable`).
    let pods = mooring_core::cloudpods::CloudPods {
        nodes: nodes.clone(),
    };
    let registry = mooring_core::cloudpods::KINDS
        .into_iter()
        .fold(registry, |r, kind| r.register(kind, pods.clone()));
    let services = billing::lifecycle::ServiceJobs::new().with("cloudpod", pods);
    let registry = [
        billing::subscriptions::PROVISION,
        billing::subscriptions::SUSPEND,
        billing::subscriptions::UNSUSPEND,
        billing::subscriptions::TERMINATE,
        billing::subscriptions::CHANGE,
    ]
    .into_iter()
    .fold(registry, |r, kind| r.register(kind, services.clone()));
    let lease = i64::try_from(config.job_lease_secs.clamp(1, 3600)).unwrap_or(30);
    Worker::new(db.clone(), registry)
        .concurrency(config.worker_concurrency)
        .lease(time::Duration::seconds(lease))
}

/// The recurring work every install has.
async fn builtin_schedules(db: &Db) -> anyhow::Result<()> {
    use mooring_core::jobs::{schedule, system_check};
    // Expired idempotency keys (24 hours) are deleted hourly.
    schedule::ensure(db, mooring_core::idempotency::schedule())
        .await
        .context("built-in schedules")?;
    schedule::ensure(
        db,
        schedule::NewSchedule {
            tenant_id: mooring_core::DEFAULT_TENANT_ID.into(),
            name: "system-check".into(),
            cron: "0 * * * *".into(),
            kind: system_check::KIND.into(),
            payload: serde_json::json!({}),
            target: None,
        },
    )
    .await
    .context("built-in schedules")?;
    schedule::ensure(
        db,
        schedule::NewSchedule {
            tenant_id: mooring_core::DEFAULT_TENANT_ID.into(),
            name: "billing-renewals".into(),
            cron: "*/10 * * * *".into(),
            kind: mooring_core::billing::lifecycle::RENEWALS.into(),
            payload: serde_json::json!({}),
            // One sweep at a time, whatever the number of processes.
            target: Some(mooring_core::jobs::Target {
                kind: "system".into(),
                id: "billing-renewals".into(),
            }),
        },
    )
    .await
    .context("built-in schedules")?;
    schedule::ensure(
        db,
        schedule::NewSchedule {
            tenant_id: mooring_core::DEFAULT_TENANT_ID.into(),
            name: "node-heartbeat".into(),
            cron: "* * * * *".into(),
            kind: mooring_core::nodes::heartbeat::KIND.into(),
            payload: serde_json::json!({}),
            target: Some(mooring_core::jobs::Target {
                kind: "system".into(),
                id: "node-heartbeat".into(),
            }),
        },
    )
    .await
    .context("built-in schedules")?;
    Ok(())
}

/// The background half of a process: the worker and the scheduler, both
/// stopping when `stop` fires (the worker after the jobs in hand finish).
async fn background(
    db: Db,
    config: &Config,
    nodes: mooring_core::nodes::servers::Nodes,
    mailer: Arc<mooring_core::mail::Mailer>,
    stop: tokio::sync::broadcast::Sender<()>,
) {
    let worker = job_worker(&db, config, nodes, mailer);
    let mut stop_w = stop.subscribe();
    let mut stop_s = stop.subscribe();
    let scheduler = mooring_core::jobs::schedule::Scheduler::new(db.clone());
    tokio::join!(
        worker.run(async move {
            let _ = stop_w.recv().await;
        }),
        scheduler.run(async move {
            let _ = stop_s.recv().await;
        }),
    );
}

async fn worker_only(config: Config) -> anyhow::Result<()> {
    config.billing_policy().context("billing settings")?;
    let master = config.master_key().context("master key")?;
    let db = open_db(&config).await?;
    let nodes = nodes_of(&db, &master);
    reseal(&db, &nodes).await?;
    builtin_schedules(&db).await?;
    println!("Mooring worker running (Ctrl-C stops it after the jobs in hand finish)");
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let signal = {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(());
        })
    };
    let mailer = Arc::new(config.mailer().context("mail")?);
    background(db.clone(), &config, nodes, mailer, stop_tx).await;
    signal.abort();
    db.close().await;
    Ok(())
}

async fn serve(config: Config, with_worker: bool) -> anyhow::Result<()> {
    config.billing_policy().context("billing settings")?;
    let master = config.master_key().context("master key")?;
    let db = open_db(&config).await?;
    bootstrap_admin(&config, &db).await?;
    let site_dir = assets::find_site_dir(config.site_dir.as_deref());
    let site_root = match &site_dir {
        Some(d) => d.display().to_string(),
        None => {
            tracing::warn!(
                searched = ?assets::candidates(config.site_dir.as_deref()),
                "no built site (pkg/) found: pages render, but nothing hydrates; run `./x build` or set MOORING_SITE_DIR"
            );
            ".".to_string()
        }
    };
    let leptos = LeptosOptions::builder()
        .output_name(assets::OUTPUT_NAME)
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(config.bind)
        .build();
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    let mailer = config.mailer().context("mail")?;
    let state = AppState::from(Services {
        db: db.clone(),
        config: Arc::new(config),
        keys: Arc::new(crate::state::Keys::derive(&master)),
        mailer: Arc::new(mailer),
        metrics: Default::default(),
        leptos,
        started: Instant::now(),
        bootstrap_closed: Default::default(),
        nodes: nodes_of(&db, &master),
    });
    reseal(&db, &state.nodes).await?;
    let url = format!("http://{addr}");
    println!("Mooring is running at {url}  (sign in at {url}/login; Ctrl-C stops it)");
    tracing::info!(%addr, backend = db.backend().name(), "listening");
    // One shutdown signal for both halves: HTTP drains, the worker finishes its jobs.
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let worker = if with_worker {
        builtin_schedules(&db).await?;
        let (db, config, stop) = (db.clone(), state.config.clone(), stop_tx.clone());
        let (mailer, nodes) = (state.mailer.clone(), state.nodes.clone());
        Some(tokio::spawn(async move {
            background(db, &config, nodes, mailer, stop).await;
        }))
    } else {
        None
    };
    let mut http_stop = stop_tx.subscribe();
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(());
    });
    // The job gauges of /metrics, kept in memory (no query per scrape).
    let job_metrics = http::metrics::spawn_job_refresh(state.metrics.clone(), db.clone());
    http::launch(listener, http::app(state), async move {
        let _ = http_stop.recv().await;
    })
    .await?;
    job_metrics.abort();
    if let Some(w) = worker {
        let _ = w.await;
    }
    signal.abort();
    tracing::info!("stopped");
    db.close().await;
    Ok(())
}

/// The node layer of a process: the vault of stored secrets (a key per
/// purpose, from the master key) and a connection pool.
pub fn nodes_of(db: &Db, master: &crate::config::MasterKey) -> mooring_core::nodes::servers::Nodes {
    mooring_core::nodes::servers::Nodes::new(
        db.clone(),
        mooring_core::vault::Vault::new(*master.bytes()),
    )
}

/// Reseal the secrets an older Mooring stored (the first sealed format,
/// flash messages with a secret in the clear): bound to their row, under
/// their purpose's key. Idempotent; run before anything opens them.
async fn reseal(db: &Db, nodes: &mooring_core::nodes::servers::Nodes) -> anyhow::Result<()> {
    mooring_core::vault::reseal_legacy(db, &nodes.vault)
        .await
        .context("cannot reseal stored secrets")?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
