//! Mooring's domain, storage, jobs and providers.
//!
//! Everything that decides anything lives here; the HTTP surfaces and the
//! portals in other crates only parse, authorize, call into this crate and
//! map the result.

pub mod audit;
pub mod billing;
pub mod clock;
pub mod cloudpods;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod identity;
pub mod jobs;
pub mod mail;
pub mod names;
pub mod nodes;
pub mod paging;
pub mod password;
pub mod system;
pub mod tenants;
pub mod users;
pub mod vault;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use db::{Backend, Db};
pub use error::{CoreError, CoreResult, ViolationKind};

/// The tenant every install has: the one a single-brand host uses.
pub const DEFAULT_TENANT_ID: &str = "00000000-0000-0000-0000-000000000001";

/// The version of this build, as reported by `/api/status` and the UI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
