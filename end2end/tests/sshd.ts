// A real OpenSSH sshd for the browser tests: its own host key, config and
// authorized_keys in a temporary directory, on a loopback address of its
// own (the node the operator adds), stopped at the end.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class Sshd {
  readonly dir = mkdtempSync(join(tmpdir(), "mooring-e2e-sshd-"));
  readonly user = execFileSync("id", ["-un"]).toString().trim();
  port = 0;
  private child?: ChildProcess;

  constructor(readonly host: string, authorizedKey: string) {
    mkdirSync("/run/sshd", { recursive: true });
    writeFileSync(join(this.dir, "authorized_keys"), `${authorizedKey}\n`);
    this.newHostKey();
  }

  newHostKey() {
    rmSync(join(this.dir, "host_ed25519"), { force: true });
    rmSync(join(this.dir, "host_ed25519.pub"), { force: true });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e-node", "-f", join(this.dir, "host_ed25519")]);
  }

  fingerprint(): string {
    const out = execFileSync("ssh-keygen", ["-E", "sha256", "-lf", join(this.dir, "host_ed25519.pub")]).toString();
    return out.split(/\s+/)[1];
  }

  private async freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, this.host, () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
  }

  async start() {
    if (!this.port) this.port = await this.freePort();
    const conf = join(this.dir, "sshd_config");
    writeFileSync(
      conf,
      [
        `Port ${this.port}`,
        `ListenAddress ${this.host}`,
        `HostKey ${join(this.dir, "host_ed25519")}`,
        `PidFile ${join(this.dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${join(this.dir, "authorized_keys")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        // The test user's own shell setup (a ~/.bashrc that runs pyenv, say)
        // stays out of the node's commands: sessions get a home of their own.
        `SetEnv HOME=${this.dir}`,
        "",
      ].join("\n"),
    );
    this.child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", conf], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const c = connect(this.port, this.host, () => {
          c.end();
          resolve(true);
        });
        c.on("error", () => resolve(false));
      });
      if (up) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("sshd did not come up");
  }

  async stop() {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    // The connections' processes are sshd's children: end them too, so
    // established connections drop as they would on a real node.
    try {
      execFileSync("pkill", ["-KILL", "-P", String(child.pid)]);
    } catch {
      // none left
    }
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
