//! CloudPods as LXC containers on a `hypervisor` node, over SSH (run as
//! root there). Every recipe is a constant shell script taking its values
//! as positional arguments (quoted by [`Cmd`]), the container's config
//! goes over stdin, and each one checks the state first, so running it
//! twice leaves the node as running it once.
//!
//! Network: a bridge (`mooringbr0`, gateway `10.213.0.1/24`) is
//! made on the node if missing; each container gets a veth on it with its
//! own static IPv4. Limits: CPU and memory from the product, written as
//! cgroup v2 or v1 keys, whichever the node has; the disk is an ext4 image
//! of the product's size on a loop device (a node without loop devices
//! gets a plain directory, and the job log says the size is not enforced).

use std::time::Duration;

use super::hypervisor::Guest;
pub use super::hypervisor::Power;
use crate::nodes::{
    servers::{HypervisorConfig, Nodes, Server},
    ssh::{Cmd, NodeError, Stream},
};

/// Where Mooring keeps its containers on a node.
pub const LXC_PATH: &str = "/var/lib/mooring/lxc";
pub const BRIDGE: &str = "mooringbr0";
pub const TEMPLATES: [&str; 2] = ["debian", "busybox"];

// Safe to run twice at once: each step tolerates "already there".
const ENSURE_BRIDGE: &str = r#"ip link show "$BR" >/dev/null 2>&1 || ip link add "$BR" type bridge 2>/dev/null || ip link show "$BR" >/dev/null
ip -4 addr show dev "$BR" | grep -q "inet $GW/" || ip addr add "$GW/24" dev "$BR" 2>/dev/null || true
ip link set "$BR" up"#;

fn script(body: &str) -> Cmd {
    // The bridge is the pods' gateway (`servers::LXC_NETWORK`).
    let gw = HypervisorConfig::Lxc.pod_network().gateway;
    Cmd::new("sh")
        .arg("-ec")
        .arg(format!(
            "P={LXC_PATH}; BR={BRIDGE}; GW={gw}; N=\"$1\"; shift\n{body}"
        ))
        .arg("mooring-lxc")
}

const LONG: Duration = Duration::from_secs(900);
const SHORT: Duration = Duration::from_secs(60);

/// Make the container (config from stdin, limits for the node's cgroup
/// version, the template's root filesystem; Debian's is cached by LXC
/// after the first).
pub async fn create(
    nodes: &Nodes,
    node: &Server,
    spec: &Guest,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<(), NodeError> {
    let conf = format!(
        "lxc.uts.name = {host}\nlxc.net.0.type = veth\nlxc.net.0.link = {BRIDGE}\nlxc.net.0.flags = up\n\
         lxc.net.0.name = eth0\nlxc.net.0.ipv4.address = {ip}/{prefix}\nlxc.net.0.ipv4.gateway = {gw}\n\
         lxc.start.auto = 1\n",
        host = spec.hostname,
        ip = spec.ipv4,
        prefix = spec.network.prefix,
        gw = spec.network.gateway,
    );
    let body = r#"mkdir -p "$P"
T="$1"; MEM="$2"; CPU="$3"; H="$4"; DISK="$5"
R="$P/$N/rootfs"
if lxc-info -P "$P" -n "$N" >/dev/null 2>&1; then
  # Made before: done, or an attempt that stopped before its setup ended.
  if [ -f "$P/$N/.mooring-ready" ]; then echo "container $N exists"; exit 0; fi
  S=$(lxc-info -P "$P" -n "$N" -sH)
  if [ "$S" != STOPPED ]; then echo "container $N exists ($S)"; exit 0; fi
  echo "container $N exists; finishing its setup"
else
  if ! [ -e "/usr/share/lxc/templates/lxc-$T" ]; then
    echo "this node has no LXC $T template: apt-get install lxc-templates debootstrap (Debian) or busybox-static (busybox)" >&2
    exit 3
  fi
  cat > "$P/$N.conf"
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    printf 'lxc.cgroup2.memory.max = %sM\nlxc.cgroup2.cpu.max = %s 100000\n' "$MEM" "$CPU" >> "$P/$N.conf"
  else
    printf 'lxc.cgroup.memory.limit_in_bytes = %sM\nlxc.cgroup.cpu.cfs_quota_us = %s\nlxc.cgroup.cpu.cfs_period_us = 100000\n' "$MEM" "$CPU" >> "$P/$N.conf"
  fi
__BRIDGE__
  # The disk: an ext4 image of the pod's size on a loop device, so the size
  # holds; a node without loop devices keeps a plain directory (said so).
  if [ -e /dev/loop-control ] && command -v mkfs.ext4 >/dev/null 2>&1 && losetup -f >/dev/null 2>&1; then
    B="-B loop --fssize ${DISK}G"; echo "disk: ${DISK} GiB (an ext4 image on a loop device)"
  else
    B="-B dir"; echo "disk: this node has no free loop device, so the ${DISK} GiB size is not enforced"
  fi
  echo "creating $N from the $T template"
  # Two containers taking a loop device at once can take the same one:
  # loop work on a node goes one at a time.
  if [ "$T" = debian ]; then
    flock "$P/.loop.lock" lxc-create -P "$P" -n "$N" -t debian $B -f "$P/$N.conf" -- -r bookworm
  else
    flock "$P/.loop.lock" lxc-create -P "$P" -n "$N" -t "$T" $B -f "$P/$N.conf"
  fi
fi
# The setup, safe to repeat (the container is stopped). Templates name the
# host after the container; the pod's hostname wins.
sed -i "s/^lxc.uts.name = .*/lxc.uts.name = $H/" "$P/$N/config"
if [ -f "$P/$N/rootdev" ] && ! mountpoint -q "$R"; then
  flock "$P/.loop.lock" mount -o loop "$P/$N/rootdev" "$R"
  trap 'umount "$R"' EXIT
  trap 'exit 1' INT TERM HUP
fi
# The address is LXC's (static): no DHCP client inside may take it away.
if [ -f "$R/etc/init.d/rcS" ]; then sed -i '/udhcpc/d' "$R/etc/init.d/rcS"; fi
# Debian's init names the host from /etc/hostname at boot.
if [ -f "$R/etc/hostname" ]; then
  echo "$H" > "$R/etc/hostname"
  if [ -f "$R/etc/hosts" ]; then sed -i "s/\b$N\b/$H/g" "$R/etc/hosts"; fi
fi
if [ -f "$R/etc/network/interfaces" ]; then
  printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet manual\n' > "$R/etc/network/interfaces"
fi
touch "$P/$N/.mooring-ready"
echo "created $N""#
    .replace("__BRIDGE__", ENSURE_BRIDGE);
    let cmd = script(&body).arg(&spec.reference).args([
        spec.template.clone(),
        spec.memory_mb.to_string(),
        (spec.cpu * 100_000).to_string(),
        spec.hostname.clone(),
        spec.disk_gb.to_string(),
    ]);
    nodes
        .check(node, &cmd, Some(conf.as_bytes()), LONG, on_line)
        .await
        .map(|_| ())
}

/// The container's state.
pub async fn power(nodes: &Nodes, node: &Server, name: &str) -> Result<Power, NodeError> {
    let cmd = script(r#"lxc-info -P "$P" -n "$N" -sH 2>/dev/null || echo MISSING"#).arg(name);
    let out = nodes.check(node, &cmd, None, SHORT, &mut |_, _| {}).await?;
    Ok(match out.stdout.trim() {
        "RUNNING" => Power::Running,
        "FROZEN" | "FREEZING" => Power::Frozen,
        "MISSING" => Power::Missing,
        _ => Power::Stopped,
    })
}

/// Bring it to `target` from whatever state it is in.
pub async fn set_power(
    nodes: &Nodes,
    node: &Server,
    name: &str,
    target: Power,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<(), NodeError> {
    let body = match target {
        Power::Running => {
            r#"S=$(lxc-info -P "$P" -n "$N" -sH)
__BRIDGE__
case "$S" in
  RUNNING) echo "$N is running" ;;
  FROZEN) lxc-unfreeze -P "$P" -n "$N"; echo "$N thawed" ;;
  *) flock "$P/.loop.lock" lxc-start -P "$P" -n "$N" -d; lxc-wait -P "$P" -n "$N" -s RUNNING -t 30; echo "$N started" ;;
esac"#
        }
        Power::Stopped => {
            r#"S=$(lxc-info -P "$P" -n "$N" -sH)
case "$S" in
  STOPPED) echo "$N is stopped" ;;
  FROZEN) lxc-unfreeze -P "$P" -n "$N"; lxc-stop -P "$P" -n "$N" -t 10 || lxc-stop -P "$P" -n "$N" -k; echo "$N stopped" ;;
  *) lxc-stop -P "$P" -n "$N" -t 10 || lxc-stop -P "$P" -n "$N" -k; echo "$N stopped" ;;
esac"#
        }
        Power::Frozen => {
            r#"S=$(lxc-info -P "$P" -n "$N" -sH)
case "$S" in
  FROZEN) echo "$N is frozen" ;;
  RUNNING) lxc-freeze -P "$P" -n "$N"; echo "$N frozen" ;;
  *) echo "$N is $S: nothing runs to freeze" ;;
esac"#
        }
        Power::Missing => return destroy(nodes, node, name, on_line).await,
    };
    let cmd = script(&body.replace("__BRIDGE__", ENSURE_BRIDGE)).arg(name);
    nodes
        .check(node, &cmd, None, SHORT, on_line)
        .await
        .map(|_| ())
}

/// Stop and start again.
pub async fn reboot(
    nodes: &Nodes,
    node: &Server,
    name: &str,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<(), NodeError> {
    set_power(nodes, node, name, Power::Stopped, on_line).await?;
    set_power(nodes, node, name, Power::Running, on_line).await
}

/// Remove the container and its config; nothing to do when it is gone.
pub async fn destroy(
    nodes: &Nodes,
    node: &Server,
    name: &str,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) -> Result<(), NodeError> {
    let cmd = script(
        r#"if ! lxc-info -P "$P" -n "$N" >/dev/null 2>&1; then rm -f "$P/$N.conf"; echo "$N is gone"; exit 0; fi
S=$(lxc-info -P "$P" -n "$N" -sH)
[ "$S" = FROZEN ] && lxc-unfreeze -P "$P" -n "$N"
[ "$S" = STOPPED ] || lxc-stop -P "$P" -n "$N" -k
lxc-destroy -P "$P" -n "$N"
rm -f "$P/$N.conf"
echo "$N destroyed""#,
    )
    .arg(name);
    nodes
        .check(node, &cmd, None, SHORT, on_line)
        .await
        .map(|_| ())
}

/// Run a command inside the container (tests and diagnostics).
pub async fn attach(
    nodes: &Nodes,
    node: &Server,
    name: &str,
    inner: &Cmd,
) -> Result<String, NodeError> {
    let cmd = script(r#"lxc-attach -P "$P" -n "$N" -- /bin/sh -c "$1""#)
        .arg(name)
        .arg(inner.render());
    Ok(nodes
        .check(node, &cmd, None, SHORT, &mut |_, _| {})
        .await?
        .stdout)
}
