//! The Mooring server: configuration, command line, the HTTP router with the
//! four API surfaces and the portals, and process wiring.
//!
//! Tests start the real server with [`http::app`] and [`http::launch`] on a
//! port-0 listener.

pub mod assets;
pub mod cli;
pub mod config;
pub mod contracts;
pub mod http;
pub mod state;
pub mod telemetry;
