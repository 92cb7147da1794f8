//! `mooring-proxmox-standin`: the Proxmox VE stand-in as a process, for the
//! browser tests (a Proxmox cluster cannot run here). It serves HTTPS with
//! a CA of its own, written to `--ca-out` for the test to give Mooring.
//!
//! Usage: `mooring-proxmox-standin --listen 127.0.0.1:PORT --token-id ID
//! --token-secret SECRET --ca-out PATH [--node NAME]`

use mooring_standins::proxmox::ProxmoxStandin;

fn usage() -> ! {
    eprintln!(
        "usage: mooring-proxmox-standin --listen ADDR --token-id ID --token-secret SECRET --ca-out PATH [--node NAME]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut id, mut secret, mut ca_out) = (None, None, None, None);
    let mut node = "pve".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next(),
            "--token-id" => id = args.next(),
            "--token-secret" => secret = args.next(),
            "--ca-out" => ca_out = args.next(),
            "--node" => node = args.next().unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let (Some(listen), Some(id), Some(secret), Some(ca_out)) = (listen, id, secret, ca_out) else {
        usage()
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mooring-proxmox-standin: cannot listen on {listen}: {e}");
            std::process::exit(1)
        }
    };
    let standin = ProxmoxStandin::serve(listener, &node, &id, &secret).await;
    if let Err(e) = std::fs::write(&ca_out, standin.ca_pem()) {
        eprintln!("mooring-proxmox-standin: cannot write {ca_out}: {e}");
        std::process::exit(1)
    }
    println!(
        "Proxmox VE stand-in listening on {} (node {node})",
        standin.url
    );
    let _ = tokio::signal::ctrl_c().await;
}
