//! Structured logs with `tracing`: human-readable text or JSON lines.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::LogFormat;

/// Install the global subscriber. `RUST_LOG` (or `MOORING_LOG`) overrides the default level.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("MOORING_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter);
    // Logs go to stderr; stdout is for what the commands print for the user.
    let ansi = std::io::stderr().is_terminal();
    let _ = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}
