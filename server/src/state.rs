//! What every request handler can reach.

use std::{sync::Arc, time::Instant};

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use mooring_core::Db;

use crate::config::Config;

/// Shared state of one server process. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    pub started: Instant,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> LeptosOptions {
        s.leptos.clone()
    }
}
