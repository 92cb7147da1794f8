//! Finding the built site (`pkg/`: WASM, its JS glue, the CSS).
//!
//! The server must find it wherever `./x run` put it, also when started from
//! another directory: the configured directory first, then next to the
//! binary, then in the build tree this binary was compiled from.

use std::path::{Path, PathBuf};

/// The file whose presence marks a usable site directory.
pub const MARKER: &str = "pkg/mooring-frontend.js";

/// The name Trunk gives the WASM bundle (the frontend package name).
pub const OUTPUT_NAME: &str = "mooring-frontend";

/// Directories searched for the site, in order.
pub fn candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = configured {
        out.push(dir.to_path_buf());
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join("site"));
            // target/<profile>/mooring → target/site
            if let Some(parent) = dir.parent() {
                out.push(parent.join("site"));
            }
            // target/<profile>/deps/<test binary> → target/site
            if let Some(grand) = dir.parent().and_then(Path::parent) {
                out.push(grand.join("site"));
            }
        }
    }
    out.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/site"
    )));
    out
}

/// The first candidate that holds a built site.
pub fn find_site_dir(configured: Option<&Path>) -> Option<PathBuf> {
    candidates(configured)
        .into_iter()
        .find(|d| d.join(MARKER).is_file())
        .map(|d| d.canonicalize().unwrap_or(d))
}
