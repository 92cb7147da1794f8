//! Nodes: the servers Mooring reaches over SSH (or, for Proxmox VE, its API), their keys, probes and the
//! heartbeat that keeps their status.

pub mod heartbeat;
pub mod keys;
pub mod proxmox;
pub mod servers;
pub mod ssh;
