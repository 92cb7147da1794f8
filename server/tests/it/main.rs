//! The server's integration tests, in one binary: one link instead of one
//! per file (each would be over a gigabyte of mostly the same code).

mod common;

mod accounts;
mod admin_forms;
mod api_keys;
mod assets;
mod audit_api;
mod authz_walk;
mod billing_api;
mod billing_mail;
mod cli;
mod cloudpods_api;
mod conformance;
mod contracts;
mod hardening;
mod idempotency;
mod identity;
mod jobs_api;
mod password_reset;
mod portal;
mod queue_processes;
mod servers_api;
mod stripe;
mod surfaces;
mod system_api;
mod tokens;
