//! Nodes: the servers Mooring reaches over SSH, their keys, probes and the
//! heartbeat that keeps their status.

pub mod heartbeat;
pub mod keys;
pub mod servers;
pub mod ssh;
