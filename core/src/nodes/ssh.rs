//! Running commands on nodes over SSH (russh).
//!
//! - One authenticated connection per node, reused; at most
//!   [`MAX_CHANNELS`] commands at once on it (OpenSSH's `MaxSessions`), and
//!   a global limit on open connections.
//! - Host keys: a node's key is pinned on first contact; after that a
//!   different key is refused ([`NodeError::HostKeyMismatch`]) until an
//!   admin accepts the new one.
//! - Commands are typed ([`Cmd`]): every argument is shell-quoted when the
//!   line is rendered; data (files, configs, secrets) go on stdin, never
//!   into the command line.
//! - Connect and command timeouts; a node that cannot be reached, or drops
//!   the connection mid-command, is [`NodeError::Unreachable`], which the
//!   job engine retries as transient.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use russh::{
    client,
    keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey},
    ChannelMsg, Disconnect,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::jobs::JobError;

/// Commands at once on one connection (OpenSSH's default `MaxSessions`).
pub const MAX_CHANNELS: usize = 10;

/// Why a node did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("the node cannot be reached: {0}")]
    Unreachable(String),
    #[error("the node's host key changed: pinned {pinned}, presented {presented}; an admin must accept the new key")]
    HostKeyMismatch { pinned: String, presented: String },
    #[error("the node refused Mooring's key for user {0}; install the public key in its authorized_keys")]
    AuthFailed(String),
    #[error("the command ran longer than {0:?}")]
    Timeout(Duration),
    #[error("the command exited with status {code}: {stderr_tail}")]
    Exit { code: u32, stderr_tail: String },
    /// An API node's TLS certificate is not signed by a CA Mooring trusts.
    #[error("{0}")]
    Untrusted(String),
    /// An API node refused Mooring's token (401) or its privileges (403).
    #[error("the node's API refused Mooring's token: {0}")]
    ApiAuth(String),
    #[error("the node's API answered {status}: {message}")]
    Api { status: u16, message: String },
    /// A task on an API node ended with an error.
    #[error("the node's task failed: {0}")]
    TaskFailed(String),
    /// Something on the node changed under Mooring (an id taken): try again.
    #[error("{0}")]
    Busy(String),
}

impl NodeError {
    /// The stable code jobs and the API report.
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::Unreachable(_) => "node_unreachable",
            NodeError::HostKeyMismatch { .. } => "host_key_mismatch",
            NodeError::AuthFailed(_) => "ssh_auth_failed",
            NodeError::Timeout(_) => "command_timeout",
            NodeError::Exit { .. } => "command_failed",
            NodeError::Untrusted(_) => "tls_untrusted",
            NodeError::ApiAuth(_) => "api_auth_failed",
            NodeError::Api { .. } => "api_error",
            NodeError::TaskFailed(_) => "task_failed",
            NodeError::Busy(_) => "node_busy",
        }
    }
}

impl From<NodeError> for JobError {
    fn from(e: NodeError) -> JobError {
        let code = e.code();
        match e {
            // Transient: the node may be back soon.
            NodeError::Unreachable(_) | NodeError::Timeout(_) | NodeError::Busy(_) => {
                JobError::transient(code, e.to_string())
            }
            NodeError::HostKeyMismatch { .. }
            | NodeError::AuthFailed(_)
            | NodeError::Untrusted(_)
            | NodeError::ApiAuth(_)
            | NodeError::Api { .. }
            | NodeError::TaskFailed(_) => JobError::permanent(code, e.to_string()),
            NodeError::Exit {
                ref stderr_tail, ..
            } => {
                let message = if stderr_tail.is_empty() {
                    e.to_string()
                } else {
                    stderr_tail.clone()
                };
                JobError::permanent(code, message)
            }
        }
    }
}

/// `s` as one shell word: bare when it is plainly safe, else single-quoted
/// (a `'` inside becomes `'\''`). Newlines, `$(...)`, backticks, `;` and
/// globs are literal inside single quotes.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A command line built from a program and its arguments, each quoted
/// when rendered; several commands run in order, stopping at the first
/// that fails (`&&`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    steps: Vec<Vec<String>>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            steps: vec![vec![program.into()]],
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.steps.last_mut().expect("a step").push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Cmd {
        self.steps
            .last_mut()
            .expect("a step")
            .extend(args.into_iter().map(Into::into));
        self
    }

    /// Then run `next` if this succeeded.
    pub fn and(mut self, next: Cmd) -> Cmd {
        self.steps.extend(next.steps);
        self
    }

    /// The shell line: every word quoted.
    pub fn render(&self) -> String {
        self.steps
            .iter()
            .map(|s| s.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(" && ")
    }
}

/// Write stdin to `path` with `mode`, atomically (a temporary file moved
/// into place): running it twice leaves the file as running it once.
pub fn write_file(path: &str, mode: &str) -> Cmd {
    let tmp = format!("{path}.mooring-tmp");
    Cmd::new("sh")
        .arg("-c")
        .arg(r#"umask 077 && cat > "$1" && chmod "$3" "$1" && mv -f "$1" "$2""#)
        .arg("mooring-write")
        .arg(tmp)
        .arg(path)
        .arg(mode)
}

/// Where a node is and which host key it must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The server's id: one pooled connection per id.
    pub id: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The pinned host key's SHA256 fingerprint; `None` on first contact.
    pub pinned: Option<String>,
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a finished command left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub code: u32,
    /// All of stdout, up to [`Output::LIMIT`] bytes (the rest is dropped).
    pub stdout: String,
    /// The end of stderr.
    pub stderr_tail: String,
}

impl Output {
    pub const LIMIT: usize = 1 << 20;
}

/// What the pool knows after connecting: the key the node presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub fingerprint: String,
    /// The key in OpenSSH form (`ssh-ed25519 AAAA…`).
    pub openssh: String,
}

struct Checker {
    pinned: Option<String>,
    seen: Arc<Mutex<Option<HostKey>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        let seen = host_key(key);
        let ok = self.pinned.as_deref().is_none_or(|p| p == seen.fingerprint);
        *self.seen.lock().expect("not poisoned") = Some(seen);
        Ok(ok)
    }
}

/// A public key's fingerprint and OpenSSH form.
pub fn host_key(key: &PublicKey) -> HostKey {
    HostKey {
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        openssh: key.to_openssh().unwrap_or_default(),
    }
}

/// One authenticated connection.
pub struct Conn {
    handle: client::Handle<Checker>,
    channels: Arc<Semaphore>,
    pub host_key: HostKey,
    target: Target,
    /// Holds one of the pool's connection slots while the connection lives.
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    /// Run `cmd` with `stdin` (closed after), passing each output line to
    /// `on_line` as it arrives.
    pub async fn exec(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        limit: Duration,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, NodeError> {
        let _channel = self
            .channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| NodeError::Unreachable("the connection closed".into()))?;
        let lost = |e: russh::Error| NodeError::Unreachable(format!("the connection failed: {e}"));
        let line = cmd.render();
        let run = async {
            // sshd counts a session until its own cleanup ends, a moment
            // after the channel closed here: a refused open is tried again.
            let mut tries = 0u64;
            let mut ch = loop {
                match self.handle.channel_open_session().await {
                    Ok(ch) => break ch,
                    Err(russh::Error::ChannelOpenFailure(_)) if tries < 20 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(20 * tries)).await;
                    }
                    Err(e) => return Err(lost(e)),
                }
            };
            ch.exec(true, line.as_bytes()).await.map_err(lost)?;
            if let Some(data) = stdin {
                ch.data(data).await.map_err(lost)?;
            }
            ch.eof().await.map_err(lost)?;
            let mut code = None;
            let mut out = Vec::new();
            let mut err = Vec::new();
            let (mut out_part, mut err_part) = (Vec::new(), Vec::new());
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        if out.len() < Output::LIMIT {
                            out.extend_from_slice(&data);
                        }
                        split_lines(&mut out_part, &data, Stream::Stdout, on_line);
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        err.extend_from_slice(&data);
                        if err.len() > 8192 {
                            err.drain(..err.len() - 4096);
                        }
                        split_lines(&mut err_part, &data, Stream::Stderr, on_line);
                    }
                    ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        err.extend_from_slice(
                            format!("killed by signal {signal_name:?}").as_bytes(),
                        );
                        code = Some(128);
                    }
                    _ => {}
                }
            }
            for (part, stream) in [(&out_part, Stream::Stdout), (&err_part, Stream::Stderr)] {
                if !part.is_empty() {
                    on_line(stream, &String::from_utf8_lossy(part));
                }
            }
            let code = code.ok_or_else(|| {
                NodeError::Unreachable("the connection dropped during the command".into())
            })?;
            Ok(Output {
                code,
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr_tail: tail(&String::from_utf8_lossy(&err), 2000),
            })
        };
        tokio::time::timeout(limit, run)
            .await
            .map_err(|_| NodeError::Timeout(limit))?
    }
}

fn split_lines(
    part: &mut Vec<u8>,
    data: &[u8],
    stream: Stream,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) {
    part.extend_from_slice(data);
    while let Some(i) = part.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = part.drain(..=i).collect();
        on_line(
            stream,
            String::from_utf8_lossy(&line[..i]).trim_end_matches('\r'),
        );
    }
}

/// The last `n` characters of `s`, trimmed.
fn tail(s: &str, n: usize) -> String {
    let s = s.trim();
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

/// Timeouts and limits of a [`Pool`].
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub connect_timeout: Duration,
    /// Connections open at once, over all nodes.
    pub max_connections: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            connect_timeout: Duration::from_secs(10),
            max_connections: 64,
        }
    }
}

/// Connections to nodes, one per node, reused.
#[derive(Clone)]
pub struct Pool {
    conns: Arc<tokio::sync::Mutex<HashMap<String, Arc<Conn>>>>,
    slots: Arc<Semaphore>,
    options: PoolOptions,
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new(PoolOptions::default())
    }
}

impl Pool {
    pub fn new(options: PoolOptions) -> Pool {
        Pool {
            conns: Default::default(),
            slots: Arc::new(Semaphore::new(options.max_connections.max(1))),
            options,
        }
    }

    /// The node's connection: the open one, or a new one (authenticated
    /// with `key`, the host key checked against `target.pinned`).
    pub async fn conn(
        &self,
        target: &Target,
        key: &Arc<PrivateKey>,
    ) -> Result<Arc<Conn>, NodeError> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns.get(&target.id) {
            if !c.handle.is_closed() && c.target == *target {
                return Ok(c.clone());
            }
            conns.remove(&target.id);
        }
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| NodeError::Unreachable("the pool is closed".into()))?;
        let conn = Arc::new(self.connect(target, key, slot).await?);
        conns.insert(target.id.clone(), conn.clone());
        Ok(conn)
    }

    async fn connect(
        &self,
        target: &Target,
        key: &Arc<PrivateKey>,
        slot: OwnedSemaphorePermit,
    ) -> Result<Conn, NodeError> {
        let seen = Arc::new(Mutex::new(None));
        let checker = Checker {
            pinned: target.pinned.clone(),
            seen: seen.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(300)),
            keepalive_interval: Some(Duration::from_secs(30)),
            ..Default::default()
        });
        let limit = self.options.connect_timeout;
        let addr = (target.host.clone(), target.port);
        let connected = tokio::time::timeout(limit, client::connect(config, addr, checker)).await;
        let presented = || seen.lock().expect("not poisoned").clone();
        let mut handle = match connected {
            Err(_) => {
                return Err(NodeError::Unreachable(format!(
                    "no answer from {}:{} within {limit:?}",
                    target.host, target.port
                )))
            }
            Ok(Err(e)) => {
                return Err(match (presented(), &target.pinned) {
                    (Some(p), Some(pinned)) if p.fingerprint != *pinned => {
                        NodeError::HostKeyMismatch {
                            pinned: pinned.clone(),
                            presented: p.fingerprint,
                        }
                    }
                    _ => NodeError::Unreachable(format!("{}:{}: {e}", target.host, target.port)),
                })
            }
            Ok(Ok(h)) => h,
        };
        let host_key = presented()
            .ok_or_else(|| NodeError::Unreachable("the node presented no host key".into()))?;
        let auth = tokio::time::timeout(
            limit,
            handle.authenticate_publickey(
                target.user.clone(),
                PrivateKeyWithHashAlg::new(key.clone(), None),
            ),
        )
        .await
        .map_err(|_| NodeError::Unreachable("authentication timed out".into()))?
        .map_err(|e| NodeError::Unreachable(format!("authentication failed: {e}")))?;
        if !auth.success() {
            let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
            return Err(NodeError::AuthFailed(target.user.clone()));
        }
        Ok(Conn {
            handle,
            channels: Arc::new(Semaphore::new(MAX_CHANNELS)),
            host_key,
            target: target.clone(),
            _slot: slot,
        })
    }

    /// Drop the node's pooled connection (it is closed when unused).
    pub async fn forget(&self, id: &str) {
        self.conns.lock().await.remove(id);
    }

    /// Connections open now.
    pub async fn open(&self) -> usize {
        self.conns.lock().await.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain-word_1.2/x"), "plain-word_1.2/x");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("a;b"), "'a;b'");
        assert_eq!(quote("line\nnext"), "'line\nnext'");
        assert_eq!(
            Cmd::new("echo")
                .arg("a b")
                .and(Cmd::new("ls").args(["-l", "*"]))
                .render(),
            "echo 'a b' && ls -l '*'"
        );
    }
}
