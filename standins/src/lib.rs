#![recursion_limit = "256"]
//! Local stand-ins for outside services Mooring talks to that cannot run on
//! a test machine (Stripe, Proxmox VE). Each follows its vendor's documented API (paths, auth,
//! bodies, errors) closely enough that Mooring's real clients talk to it
//! unchanged; the Rust tests use them as a library, the browser tests run
//! them as binaries (`mooring-stripe-standin`).

pub mod proxmox;
pub mod stripe;
