//! Running commands on nodes over SSH (russh).
//!
//! - One authenticated connection per node, reused; at most
//!   [`MAX_CHANNELS`] commands at once on it (OpenSSH's `MaxSessions`), and
//!   a global limit on open connections ([`Pool`]: no lock is held across
//!   connecting or waiting; idle connections make room for new ones).
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
    time::{Duration, Instant},
};

use russh::{
    client,
    keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey},
    ChannelMsg, Disconnect,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

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
    /// How long opening a channel may take before the connection is taken
    /// for dead (the pool's connect timeout).
    open_timeout: Duration,
    /// When a command on it last ended (or it was made).
    last_used: Mutex<Instant>,
    /// Holds one of the pool's connection slots while the connection lives.
    _slot: OwnedSemaphorePermit,
}

/// Why [`Conn::exec`] failed, and whether the command was sent at all.
pub(crate) struct ExecFailure {
    pub error: NodeError,
    /// `false`: the connection failed before the command went out (it
    /// died unseen); the command can be sent again on a new connection.
    pub started: bool,
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
        self.try_exec(cmd, stdin, limit, on_line)
            .await
            .map_err(|f| f.error)
    }

    /// Whether it still stands (the node has not dropped it).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Whether it reaches `t`: the same address and user, and the key
    /// pinned there (if one is).
    fn serves(&self, t: &Target) -> bool {
        let c = &self.target;
        c.id == t.id
            && c.host == t.host
            && c.port == t.port
            && c.user == t.user
            && t.pinned
                .as_deref()
                .is_none_or(|p| p == self.host_key.fingerprint)
    }

    fn idle_for(&self) -> Duration {
        self.last_used.lock().expect("not poisoned").elapsed()
    }

    pub(crate) async fn try_exec(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        limit: Duration,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, ExecFailure> {
        let before = |error| ExecFailure {
            error,
            started: false,
        };
        let _channel = self
            .channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| before(NodeError::Unreachable("the connection closed".into())))?;
        let deadline = tokio::time::Instant::now() + limit;
        let lost = |e: russh::Error| NodeError::Unreachable(format!("the connection failed: {e}"));
        let line = cmd.render();
        // Opening the channel: nothing has run yet. A connection that died
        // unseen (the node rebooted) fails here, or does not answer.
        let open = async {
            // sshd counts a session until its own cleanup ends, a moment
            // after the channel closed here: a refused open is tried again.
            let mut tries = 0u64;
            loop {
                match self.handle.channel_open_session().await {
                    Ok(ch) => break Ok(ch),
                    Err(russh::Error::ChannelOpenFailure(_)) if tries < 20 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(20 * tries)).await;
                    }
                    Err(e) => break Err(lost(e)),
                }
            }
        };
        let mut ch = match tokio::time::timeout(self.open_timeout.min(limit), open).await {
            Ok(Ok(ch)) => ch,
            Ok(Err(e)) => return Err(before(e)),
            Err(_) if self.open_timeout < limit => {
                return Err(before(NodeError::Unreachable(format!(
                    "the connection did not answer within {:?}",
                    self.open_timeout
                ))))
            }
            Err(_) => return Err(before(NodeError::Timeout(limit))),
        };
        let run = async {
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
        let started = |error| ExecFailure {
            error,
            started: true,
        };
        tokio::time::timeout_at(deadline, run)
            .await
            .map_err(|_| started(NodeError::Timeout(limit)))?
            .map_err(started)
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
    /// Connecting and authenticating, each; also how long opening a
    /// channel on a pooled connection may take before it is taken for dead.
    pub connect_timeout: Duration,
    /// Connections open at once, over all nodes.
    pub max_connections: usize,
    /// How long a new connection waits for a free slot (all in use by
    /// running commands) before the command fails as [`NodeError::Busy`].
    pub slot_timeout: Duration,
    /// A connection unused this long is closed.
    pub idle_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            connect_timeout: Duration::from_secs(10),
            max_connections: 64,
            slot_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// Connections to nodes, one per node, reused.
///
/// Locking: the map of connections is a plain mutex held only to look up,
/// insert or remove, never across an `.await`. Connecting (TCP, key
/// exchange, authentication) happens under a lock of that node alone, so
/// two callers do not both connect to it, and a node that does not answer
/// holds up only its own callers. A new connection takes one of
/// `max_connections` slots; when none is free, an idle connection (no
/// command running on it; closed ones first, then the least recently used)
/// is closed to free one, else the caller waits, holding no lock but its
/// node's, until a command ends somewhere.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    /// The connections. A connection no [`Lease`] holds (its only `Arc`
    /// is here) is idle.
    conns: Mutex<HashMap<String, Arc<Conn>>>,
    /// One lock per node, held while connecting to it.
    connecting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Attempt>>>>,
    slots: Arc<Semaphore>,
    /// Signalled when a lease ends (a connection may have become idle).
    returned: Notify,
    options: PoolOptions,
}

/// The last failed connect to a node: callers that waited for it get its
/// answer rather than each trying again (an unreachable node costs one
/// connect timeout, not one per waiting caller).
#[derive(Default)]
struct Attempt {
    failed: Option<(Instant, Target, NodeError)>,
}

/// A connection taken from the [`Pool`]; it goes back (idle, unless others
/// hold it too) when the lease is dropped.
pub struct Lease {
    conn: Option<Arc<Conn>>,
    reused: bool,
    pool: Arc<PoolInner>,
}

impl std::ops::Deref for Lease {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn.as_deref().expect("held until dropped")
    }
}

impl Lease {
    /// Whether it was in the pool already (not made for this lease).
    pub fn reused(&self) -> bool {
        self.reused
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            *c.last_used.lock().expect("not poisoned") = Instant::now();
            // Released before waiters look: they count holders.
            drop(c);
        }
        self.pool.returned.notify_waiters();
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new(PoolOptions::default())
    }
}

impl Pool {
    pub fn new(options: PoolOptions) -> Pool {
        Pool {
            inner: Arc::new(PoolInner {
                conns: Default::default(),
                connecting: Default::default(),
                slots: Arc::new(Semaphore::new(options.max_connections.max(1))),
                returned: Notify::new(),
                options,
            }),
        }
    }

    pub fn options(&self) -> PoolOptions {
        self.inner.options
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Conn>>> {
        self.inner.conns.lock().expect("not poisoned")
    }

    fn lease(&self, conn: Arc<Conn>, reused: bool) -> Lease {
        Lease {
            conn: Some(conn),
            reused,
            pool: self.inner.clone(),
        }
    }

    /// The node's connection: the open one, or a new one (authenticated
    /// with `key`, the host key checked against `target.pinned`).
    pub async fn conn(&self, target: &Target, key: &Arc<PrivateKey>) -> Result<Lease, NodeError> {
        self.sweep();
        if let Some(c) = self.cached(target) {
            return Ok(self.lease(c, true));
        }
        let asked = Instant::now();
        let lock = self
            .inner
            .connecting
            .lock()
            .expect("not poisoned")
            .entry(target.id.clone())
            .or_default()
            .clone();
        let result = async {
            let mut attempt = lock.lock().await;
            // Another caller connected while this one waited…
            if let Some(c) = self.cached(target) {
                return Ok(self.lease(c, true));
            }
            // … or failed to, since this one asked: that is the answer.
            if let Some((at, t, e)) = &attempt.failed {
                if *at >= asked && t == target {
                    return Err(e.clone());
                }
            }
            let made = async {
                let slot = self.slot().await?;
                self.connect(target, key, slot).await
            }
            .await;
            match made {
                Ok(conn) => {
                    attempt.failed = None;
                    let conn = Arc::new(conn);
                    let old = self.conns().insert(target.id.clone(), conn.clone());
                    drop(old);
                    Ok(self.lease(conn, false))
                }
                Err(e) => {
                    attempt.failed = Some((Instant::now(), target.clone(), e.clone()));
                    Err(e)
                }
            }
        }
        .await;
        // The node's lock goes when no one else waits on it.
        let mut locks = self.inner.connecting.lock().expect("not poisoned");
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&target.id);
        }
        result
    }

    /// The pooled connection to `target`, if one stands and still reaches
    /// it; a closed or outdated one is dropped.
    fn cached(&self, target: &Target) -> Option<Arc<Conn>> {
        let stale = {
            let mut conns = self.conns();
            match conns.get(&target.id) {
                None => return None,
                Some(c) if !c.is_closed() && c.serves(target) => return Some(c.clone()),
                Some(_) => conns.remove(&target.id),
            }
        };
        drop(stale);
        None
    }

    /// Close idle connections that are closed already or unused for
    /// `idle_timeout`.
    fn sweep(&self) {
        let limit = self.inner.options.idle_timeout;
        let gone: Vec<Arc<Conn>> = {
            let mut conns = self.conns();
            let ids: Vec<String> = conns
                .iter()
                .filter(|(_, c)| {
                    Arc::strong_count(c) == 1 && (c.is_closed() || c.idle_for() >= limit)
                })
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| conns.remove(id)).collect()
        };
        drop(gone);
    }

    /// Close one idle connection (a closed one first, else the least
    /// recently used) to free its slot; `false` when none is idle.
    fn evict_idle(&self) -> bool {
        let evicted = {
            let mut conns = self.conns();
            let pick = conns
                .iter()
                .filter(|(_, c)| Arc::strong_count(c) == 1)
                .max_by_key(|(_, c)| (c.is_closed(), c.idle_for()))
                .map(|(id, _)| id.clone());
            pick.and_then(|id| conns.remove(&id))
        };
        // Dropped outside the map's lock; its slot is free now.
        evicted.is_some()
    }

    /// A free connection slot: at once, or by closing an idle connection,
    /// or once a command somewhere ends.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, NodeError> {
        let inner = &self.inner;
        let closed = || NodeError::Unreachable("the pool is closed".into());
        let wait = async {
            loop {
                let returned = inner.returned.notified();
                tokio::pin!(returned);
                returned.as_mut().enable();
                match inner.slots.clone().try_acquire_owned() {
                    Ok(p) => return Ok(p),
                    Err(tokio::sync::TryAcquireError::Closed) => return Err(closed()),
                    Err(tokio::sync::TryAcquireError::NoPermits) => {}
                }
                if self.evict_idle() {
                    continue;
                }
                tokio::select! {
                    p = inner.slots.clone().acquire_owned() => return p.map_err(|_| closed()),
                    () = &mut returned => {}
                }
            }
        };
        let limit = inner.options.slot_timeout;
        tokio::time::timeout(limit, wait).await.map_err(|_| {
            NodeError::Busy(format!(
                "all {} connections to nodes stayed in use for {limit:?}; try again",
                inner.options.max_connections
            ))
        })?
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
        let limit = self.inner.options.connect_timeout;
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
            open_timeout: limit,
            last_used: Mutex::new(Instant::now()),
            _slot: slot,
        })
    }

    /// Drop the node's pooled connection: it closes (and frees its slot)
    /// as soon as no command runs on it; the next command connects anew.
    pub fn evict(&self, id: &str) {
        let gone = self.conns().remove(id);
        drop(gone);
    }

    /// [`Pool::evict`] (for callers that await it).
    pub async fn forget(&self, id: &str) {
        self.evict(id);
    }

    /// Drop `lease`'s connection from the pool (it failed), unless another
    /// has replaced it there already.
    pub fn discard(&self, lease: &Lease) {
        let gone = {
            let mut conns = self.conns();
            match (conns.get(&lease.target.id), &lease.conn) {
                (Some(c), Some(mine)) if Arc::ptr_eq(c, mine) => conns.remove(&lease.target.id),
                _ => None,
            }
        };
        drop(gone);
    }

    /// Connections in the pool now.
    pub async fn open(&self) -> usize {
        self.conns().len()
    }

    /// Connection slots taken now: pooled connections, plus dropped ones
    /// a command still runs on, plus connects under way.
    pub fn slots_taken(&self) -> usize {
        self.inner.options.max_connections.max(1) - self.inner.slots.available_permits()
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
