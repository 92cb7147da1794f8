//! What every request handler can reach.

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::Instant,
};

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use mooring_core::Db;

use mooring_core::{identity::tokens::derive_key, mail::Mailer};

use crate::config::{Config, MasterKey};

/// Shared state of one server process: one pointer, so the copy each
/// middleware and handler takes costs a reference count, not a field-by-field
/// clone. Reads go through to [`Services`].
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

impl From<Services> for AppState {
    fn from(s: Services) -> AppState {
        AppState(Arc::new(s))
    }
}

impl AppState {
    /// Change the state before it is shared (at start-up).
    pub fn edit(&mut self) -> &mut Services {
        Arc::make_mut(&mut self.0)
    }
}

/// What every request handler can reach (see [`AppState`]).
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub config: Arc<Config>,
    pub keys: Arc<Keys>,
    pub mailer: Arc<Mailer>,
    /// This process's Prometheus registry (`/metrics`): HTTP counters, job gauges.
    pub metrics: Arc<crate::http::metrics::Metrics>,
    pub leptos: LeptosOptions,
    pub started: Instant,
    /// Set once an account or token exists: the rustploy bootstrap rule no longer applies.
    pub bootstrap_closed: Arc<AtomicBool>,
    /// Node keys and pooled SSH connections.
    pub nodes: mooring_core::nodes::servers::Nodes,
}

/// Keys derived from the master key, one per purpose.
pub struct Keys {
    /// Signs mpanel access tokens (HS256). (Stored secrets are sealed by
    /// the vault, `AppState::nodes.vault`, with keys of its own.)
    pub jwt: [u8; 32],
}

impl Keys {
    pub fn derive(master: &MasterKey) -> Keys {
        Keys {
            jwt: derive_key(master.bytes(), "mpanel access tokens"),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> LeptosOptions {
        s.leptos.clone()
    }
}
