//! A real OpenSSH `sshd` for tests, on a loopback address (127.0.0.x) and a
//! free port, with its own host key, `authorized_keys` and config in a
//! temporary directory (the known-good setup of LOOPBACK.md). Stopped and
//! removed on drop; it can be stopped and started again (a node that goes
//! away) or given a new host key (a node that was reinstalled).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct Sshd {
    pub host: String,
    pub port: u16,
    /// The user tests log in as (the one running the tests).
    pub user: String,
    dir: PathBuf,
    child: Option<Child>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a helper program");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port(host: &str) -> u16 {
    std::net::TcpListener::bind((host, 0))
        .expect("bind a loopback port")
        .local_addr()
        .expect("local addr")
        .port()
}

impl Sshd {
    /// Start on `host` (e.g. `127.0.0.2`), trusting `authorized_key` (an
    /// OpenSSH public key line).
    pub async fn start(host: &str, authorized_key: &str) -> Sshd {
        let dir = std::env::temp_dir().join(format!("mooring-sshd-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("sshd dir");
        std::fs::create_dir_all("/run/sshd").ok();
        std::fs::write(dir.join("authorized_keys"), format!("{authorized_key}\n"))
            .expect("authorized_keys");
        let user = run(Command::new("id").arg("-un")).trim().to_string();
        let mut me = Sshd {
            host: host.into(),
            port: free_port(host),
            user,
            dir,
            child: None,
        };
        me.new_host_key();
        me.write_config();
        me.up().await;
        me
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("host_ed25519")
    }

    /// Replace the host key (takes effect at the next start).
    pub fn new_host_key(&mut self) {
        let k = self.key_path();
        let _ = std::fs::remove_file(&k);
        let _ = std::fs::remove_file(k.with_extension("pub"));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test-node", "-f"])
            .arg(&k));
    }

    /// The host key's `SHA256:…` fingerprint.
    pub fn fingerprint(&self) -> String {
        let out = run(Command::new("ssh-keygen")
            .args(["-E", "sha256", "-lf"])
            .arg(self.key_path().with_extension("pub")));
        out.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }

    fn write_config(&self) {
        let d = &self.dir;
        let conf = format!(
            "Port {port}\nListenAddress {host}\nHostKey {key}\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
             MaxSessions 10\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n\
             SetEnv HOME={dir}\n",
            // `SetEnv HOME`: the test user's own shell setup (a ~/.bashrc
            // running pyenv, say) stays out of the node's commands.
            port = self.port,
            host = self.host,
            key = self.key_path().display(),
            dir = d.display(),
        );
        std::fs::write(d.join("sshd_config"), conf).expect("sshd_config");
    }

    fn config(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }

    /// The directory files of this node live in (tests write there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Start (again) and wait until it accepts connections.
    pub async fn up(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::File::create(self.dir.join("sshd.log")).expect("sshd log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start sshd (apt install openssh-server)");
        self.child = Some(child);
        // Ready when it speaks SSH (its banner), not merely when it listens.
        for _ in 0..100 {
            if let Ok(mut s) = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await
            {
                use tokio::io::AsyncReadExt;
                let mut banner = [0u8; 4];
                let read =
                    tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut banner)).await;
                if matches!(read, Ok(Ok(_))) && &banner == b"SSH-" {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sshd did not come up: {}", self.log());
    }

    /// Stop it at once (connections drop).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            // The connections' processes are sshd's descendants: end them
            // first, so established connections drop too.
            for pid in descendants(c.id()) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

/// Every process below `root`, from /proc (parents before children).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid …: comm may hold spaces, so read after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (pid, ppid) in &parent_of {
            if *ppid == p && !out.contains(pid) {
                out.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    out
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
