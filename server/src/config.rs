//! Configuration: one typed struct from defaults, then an optional
//! `mooring.toml`, then `MOORING_*` environment variables (and `DATABASE_URL`).
//! Secrets are `secrecy` types, so `Debug` and logs never show them.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    providers::{Env, Format, Toml},
    Figment,
};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything `mooring` can be told. Field names are the lower-case form of
/// the environment variables (`MOORING_DATA_DIR` → `data_dir`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listen address (`MOORING_BIND`).
    pub bind: SocketAddr,
    /// Where Mooring keeps its files: the SQLite database, the master key (`MOORING_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...` (`DATABASE_URL` or `MOORING_DATABASE_URL`);
    /// defaults to SQLite under the data directory.
    pub database_url: Option<SecretString>,
    /// 32 bytes as 64 hex digits; encrypts stored secrets (`MOORING_MASTER_KEY`).
    /// Generated into the data directory on first start when unset.
    pub master_key: Option<SecretString>,
    /// Where the built site (`pkg/` with WASM, JS, CSS) is (`MOORING_SITE_DIR`).
    /// Found next to the binary or in the build tree when unset.
    pub site_dir: Option<PathBuf>,
    /// The URL users reach Mooring at, for links in emails (`MOORING_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// `text` or `json` (`MOORING_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes (`MOORING_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Largest number of database connections (`MOORING_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// Jobs one process runs at once (`MOORING_WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// Seconds a worker holds a job without renewing (`MOORING_JOB_LEASE_SECS`);
    /// a job whose worker died runs again this long after.
    pub job_lease_secs: u64,
    /// Email of the first admin, created when the database has no account
    /// (`MOORING_ADMIN_EMAIL`, default `admin@localhost`).
    pub admin_email: Option<String>,
    /// Password of that first admin (`MOORING_ADMIN_PASSWORD`); generated and
    /// printed once when unset.
    pub admin_password: Option<SecretString>,
    /// Outgoing mail server (`MOORING_SMTP_URL`, e.g. `smtp://user:pass@host:587?tls=required`).
    /// Unset: mail is written to `<data_dir>/outbox/` instead.
    pub smtp_url: Option<SecretString>,
    /// The sender of Mooring's email (`MOORING_MAIL_FROM`).
    pub mail_from: String,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`MOORING_TRUSTED_PROXIES`,
    /// comma-separated addresses). Empty by default: the TCP peer is the client.
    #[serde(deserialize_with = "ip_list")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Stripe secret key (`MOORING_STRIPE_SECRET_KEY`). Unset: invoices are
    /// paid by bank transfer and marked paid by an operator.
    pub stripe_secret_key: Option<SecretString>,
    /// Signing secret of the webhook endpoint (`MOORING_STRIPE_WEBHOOK_SECRET`, `whsec_…`).
    pub stripe_webhook_secret: Option<SecretString>,
    /// Stripe's API base URL (`MOORING_STRIPE_API_BASE`); tests point it at a stand-in.
    pub stripe_api_base: String,
    /// Days before a period ends that its renewal invoice is issued
    /// (`MOORING_RENEWAL_LEAD_DAYS`).
    pub renewal_lead_days: u32,
    /// Days after an unpaid renewal fell due that the service is suspended
    /// (`MOORING_SUSPEND_AFTER_DAYS`).
    pub suspend_after_days: u32,
    /// Days after it fell due that the service is terminated (`MOORING_TERMINATE_AFTER_DAYS`).
    pub terminate_after_days: u32,
    /// Days before an unpaid invoice falls due that a reminder is mailed
    /// (`MOORING_REMINDER_DAYS`; 0: no reminders).
    pub reminder_days: u32,
    /// Bank-transfer instructions shown on unpaid invoices
    /// (`MOORING_PAYMENT_INSTRUCTIONS`): your bank details. Without Stripe a
    /// generic text is shown when unset; with Stripe, card only.
    pub payment_instructions: Option<String>,
}

/// A list of IP addresses, as a sequence or as one comma-separated string.
fn ip_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<std::net::IpAddr>, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(d)? {
        Raw::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Raw::Many(v) => v,
    };
    items
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| D::Error::custom(format!("'{s}' is not an IP address")))
        })
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            master_key: None,
            site_dir: None,
            public_url: None,
            log_format: LogFormat::Text,
            max_body_bytes: 1024 * 1024,
            db_max_connections: 16,
            worker_concurrency: 8,
            job_lease_secs: 30,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: "https://api.stripe.com/".into(),
            renewal_lead_days: 7,
            suspend_after_days: 3,
            terminate_after_days: 30,
            reminder_days: 3,
            payment_instructions: None,
            admin_email: None,
            admin_password: None,
            smtp_url: None,
            mail_from: "Mooring <mooring@localhost>".into(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The `MOORING_*` variables that configure the server (the fields above).
/// Others, such as `MOORING_LOG` or the test tools' `MOORING_E2E_*`, belong
/// to other parts and are left alone.
///
/// Text settings are taken verbatim: figment would read `MOORING_MASTER_KEY=0012…`
/// or an all-digit password as a number and lose or reject it.
const ENV_TEXT_KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "master_key",
    "site_dir",
    "public_url",
    "admin_email",
    "admin_password",
    "smtp_url",
    "mail_from",
    "trusted_proxies",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "stripe_api_base",
    "payment_instructions",
];
/// Typed settings, parsed by figment.
const ENV_TYPED_KEYS: &[&str] = &[
    "bind",
    "log_format",
    "max_body_bytes",
    "db_max_connections",
    "worker_concurrency",
    "job_lease_secs",
    "renewal_lead_days",
    "suspend_after_days",
    "terminate_after_days",
    "reminder_days",
];

impl Config {
    /// Load: defaults, then `file` (or `./mooring.toml` if it exists, or the
    /// file `MOORING_CONFIG` names), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, figment::Error> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("MOORING_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("mooring.toml");
                p.exists().then_some(p)
            });
        let mut fig = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(figment::Error::from(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(file));
        }
        fig = fig.merge(Env::prefixed("MOORING_").only(ENV_TYPED_KEYS));
        for key in ENV_TEXT_KEYS {
            if let Ok(v) = std::env::var(format!("MOORING_{}", key.to_uppercase())) {
                fig = fig.merge((*key, v));
            }
        }
        if let Ok(v) = std::env::var("DATABASE_URL") {
            fig = fig.merge(("database_url", v));
        }
        fig.extract()
    }

    /// Where users reach Mooring, without a trailing slash: `public_url`, or
    /// the listen address when it is unset (links in email, Stripe's return URLs).
    pub fn public_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
            .trim_end_matches('/')
            .to_string()
    }

    /// Renewal and dunning timing; refused when the steps are out of order.
    pub fn billing_policy(&self) -> anyhow::Result<mooring_core::billing::lifecycle::Policy> {
        anyhow::ensure!(
            self.suspend_after_days < self.terminate_after_days,
            "suspend_after_days ({}) must be less than terminate_after_days ({})",
            self.suspend_after_days,
            self.terminate_after_days
        );
        Ok(mooring_core::billing::lifecycle::Policy {
            renewal_lead_days: i64::from(self.renewal_lead_days),
            suspend_after_days: i64::from(self.suspend_after_days),
            terminate_after_days: i64::from(self.terminate_after_days),
            reminder_days: i64::from(self.reminder_days),
            auto_charge: self.stripe().is_some(),
        })
    }

    /// Stripe, when a secret key and a webhook secret are configured.
    pub fn stripe(&self) -> Option<mooring_core::billing::stripe::StripeConfig> {
        match (&self.stripe_secret_key, &self.stripe_webhook_secret) {
            (Some(k), Some(w)) => Some(mooring_core::billing::stripe::StripeConfig {
                secret_key: k.expose_secret().to_string(),
                webhook_secret: w.expose_secret().to_string(),
                api_base: self.stripe_api_base.clone(),
            }),
            _ => None,
        }
    }

    /// The database URL in force: the configured one or SQLite in the data dir.
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(u) => u.clone(),
            None => SecretString::from(format!(
                "sqlite://{}",
                self.data_dir.join("mooring.db").display()
            )),
        }
    }

    /// The URL users reach Mooring at: configured, or the listen address.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    /// The mailer this configuration asks for.
    pub fn mailer(&self) -> anyhow::Result<mooring_core::mail::Mailer> {
        Ok(mooring_core::mail::Mailer::new(
            self.smtp_url.as_ref().map(|u| u.expose_secret()),
            &self.mail_from,
            self.data_dir.join("outbox"),
        )?)
    }

    /// Whether users reach Mooring over https (cookies are then `Secure`).
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
    }

    /// The master key: configured, or read from (or first written to) the data dir.
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        if let Some(k) = &self.master_key {
            return MasterKey::from_hex(k.expose_secret())
                .map_err(|e| anyhow::anyhow!("MOORING_MASTER_KEY: {e}"));
        }
        let path = self.data_dir.join("master.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)?;
            return MasterKey::from_hex(text.trim())
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let key: [u8; 32] = rand::random();
        write_private(&path, &hex::encode(key))?;
        tracing::info!(path = %path.display(), "generated a new master key; back it up with the database");
        Ok(MasterKey(SecretBox::new(Box::new(key))))
    }
}

/// The key that encrypts secrets Mooring stores (SSH keys, provider credentials).
pub struct MasterKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    pub fn from_hex(s: &str) -> Result<MasterKey, String> {
        let bytes = hex::decode(s.trim()).map_err(|_| "must be 64 hex digits".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 64 hex digits (32 bytes)".to_string())?;
        Ok(MasterKey(SecretBox::new(Box::new(key))))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

/// Write a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_then_file_then_env() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "mooring.toml",
                "bind = \"127.0.0.1:9000\"\ndata_dir = \"/srv/mooring\"\nmax_body_bytes = 2048\n",
            )?;
            let c = Config::load(None)?;
            assert_eq!(c.bind.port(), 9000);
            assert_eq!(c.data_dir, PathBuf::from("/srv/mooring"));
            assert_eq!(c.max_body_bytes, 2048);
            assert_eq!(c.log_format, LogFormat::Text);
            jail.set_env("MOORING_BIND", "127.0.0.1:9100");
            jail.set_env("MOORING_LOG_FORMAT", "json");
            jail.set_env("DATABASE_URL", "postgres://u:pw@127.0.0.1/m");
            let c = Config::load(None)?;
            assert_eq!(c.bind.port(), 9100);
            assert_eq!(c.data_dir, PathBuf::from("/srv/mooring"));
            assert_eq!(c.log_format, LogFormat::Json);
            assert_eq!(
                c.database_url().expose_secret(),
                "postgres://u:pw@127.0.0.1/m"
            );
            Ok(())
        });
    }

    #[test]
    fn every_field_can_be_set_from_the_environment_and_other_vars_are_left_alone() {
        Jail::expect_with(|jail| {
            jail.set_env("MOORING_E2E_BIN", "/elsewhere");
            jail.set_env("MOORING_LOG", "debug");
            for (key, value) in [
                ("BIND", "127.0.0.1:1"),
                ("DATA_DIR", "/d"),
                ("DATABASE_URL", "sqlite://x.db"),
                ("MASTER_KEY", "0012"),
                ("SITE_DIR", "/s"),
                ("PUBLIC_URL", "https://m.example"),
                ("LOG_FORMAT", "json"),
                ("MAX_BODY_BYTES", "7"),
                ("DB_MAX_CONNECTIONS", "3"),
                ("WORKER_CONCURRENCY", "5"),
                ("JOB_LEASE_SECS", "4"),
                ("RENEWAL_LEAD_DAYS", "10"),
                ("SUSPEND_AFTER_DAYS", "5"),
                ("TERMINATE_AFTER_DAYS", "45"),
                ("REMINDER_DAYS", "2"),
                ("ADMIN_EMAIL", "a@b.co"),
                ("ADMIN_PASSWORD", "000123456789"),
                ("TRUSTED_PROXIES", "10.0.0.1, ::1"),
            ] {
                let k = key.to_lowercase();
                assert!(
                    ENV_TEXT_KEYS.contains(&k.as_str()) || ENV_TYPED_KEYS.contains(&k.as_str()),
                    "{key}"
                );
                jail.set_env(format!("MOORING_{key}"), value);
            }
            assert_eq!(ENV_TEXT_KEYS.len() + ENV_TYPED_KEYS.len(), 24);
            let c = Config::load(None)?;
            assert_eq!(c.bind.port(), 1);
            assert_eq!(c.data_dir, PathBuf::from("/d"));
            assert_eq!(c.database_url().expose_secret(), "sqlite://x.db");
            assert_eq!(c.site_dir, Some(PathBuf::from("/s")));
            assert_eq!(c.public_url.as_deref(), Some("https://m.example"));
            assert_eq!((c.max_body_bytes, c.db_max_connections), (7, 3));
            assert_eq!((c.worker_concurrency, c.job_lease_secs), (5, 4));
            assert_eq!(
                (
                    c.renewal_lead_days,
                    c.suspend_after_days,
                    c.terminate_after_days,
                    c.reminder_days
                ),
                (10, 5, 45, 2)
            );
            assert_eq!(c.admin_email.as_deref(), Some("a@b.co"));
            assert_eq!(
                c.trusted_proxies,
                vec![
                    "10.0.0.1".parse::<std::net::IpAddr>().unwrap(),
                    "::1".parse().unwrap()
                ]
            );
            // Digits stay text, leading zeros and all.
            let text = |s: &Option<SecretString>| s.as_ref().map(|p| p.expose_secret().to_string());
            assert_eq!(text(&c.admin_password).as_deref(), Some("000123456789"));
            assert_eq!(text(&c.master_key).as_deref(), Some("0012"));
            Ok(())
        });
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        Jail::expect_with(|_| {
            let c = Config::load(None)?;
            assert_eq!(c.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
            assert_eq!(
                c.database_url().expose_secret(),
                "sqlite://./data/mooring.db"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://u:hunter2secret@127.0.0.1/m");
            jail.set_env("MOORING_MASTER_KEY", "ab".repeat(32));
            let c = Config::load(None)?;
            let dbg = format!("{c:?}");
            assert!(!dbg.contains("hunter2secret"), "{dbg}");
            assert!(!dbg.contains(&"ab".repeat(32)), "{dbg}");
            let key = c.master_key().unwrap();
            assert_eq!(key.bytes(), &[0xab; 32]);
            assert_eq!(format!("{key:?}"), "MasterKey([REDACTED])");
            Ok(())
        });
    }

    #[test]
    fn every_secret_is_redacted_in_debug() {
        Jail::expect_with(|jail| {
            jail.set_env("MOORING_ADMIN_PASSWORD", "hunter2admin");
            jail.set_env("MOORING_SMTP_URL", "smtp://mail:hunter2smtp@127.0.0.1:2525");
            jail.set_env("MOORING_STRIPE_SECRET_KEY", "sk_test_hunter2stripe");
            jail.set_env("MOORING_STRIPE_WEBHOOK_SECRET", "whsec_hunter2hook");
            jail.set_env("MOORING_MASTER_KEY", "cd".repeat(32));
            let c = Config::load(None)?;
            let dbg = format!("{c:?} {:?}", c.stripe());
            for secret in [
                "hunter2admin",
                "hunter2smtp",
                "hunter2stripe",
                "hunter2hook",
                &"cd".repeat(32),
            ] {
                assert!(!dbg.contains(secret), "{secret} in {dbg}");
            }
            assert!(c.stripe().is_some() && c.smtp_url.is_some());
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_reported() {
        Jail::expect_with(|jail| {
            jail.set_env("MOORING_BIND", "not an address");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("BIND") && err.contains("MOORING_"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("mooring.toml", "bnd = \"127.0.0.1:1\"\n")?;
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("bnd"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("MOORING_TRUSTED_PROXIES", "10.0.0.1,not-an-ip");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("not-an-ip"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("MOORING_MASTER_KEY", "short");
            let c = Config::load(None)?;
            assert!(c.master_key().is_err());
            Ok(())
        });
    }

    #[test]
    fn master_key_is_generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let a = c.master_key().unwrap();
        let b = c.master_key().unwrap();
        assert_eq!(a.bytes(), b.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("data/master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
