//! The built site (`pkg/`: WASM, its JS glue, the CSS): finding it, and
//! holding it in memory under content-hashed names with compressed copies.
//!
//! The server must find it wherever `./x run` put it, also when started from
//! another directory: the configured directory first, then next to the
//! binary, then in the build tree this binary was compiled from.

use std::{
    collections::{HashMap, HashSet},
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::body::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

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

/// The stylesheet Trunk writes (from `style/mooring.css`).
pub const STYLESHEET: &str = "mooring.css";

/// How long browsers keep a file under its hashed name: a year, never
/// revalidated (a new build has a new name).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A plain name may change content at any time: browsers revalidate it (with
/// its `ETag`) before every use.
pub const REVALIDATE: &str = "no-cache";

/// A content coding a file can be sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` value (none for identity).
    pub fn header(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Brotli => Some("br"),
        }
    }

    /// The file suffix of a precompressed copy (`./x build` writes them).
    fn suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Gzip => ".gz",
            Coding::Brotli => ".br",
        }
    }

    /// What an `Accept-Encoding` header lets us send, best first: brotli,
    /// then gzip, then the file as it is. `q=0` refuses a coding, `*`
    /// stands for those not named.
    pub fn preferred(accept_encoding: Option<&str>) -> Vec<Coding> {
        let Some(header) = accept_encoding else {
            return vec![Coding::Identity];
        };
        let (mut br, mut gzip, mut star) = (None::<f32>, None::<f32>, None::<f32>);
        for item in header.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match name.as_str() {
                "br" => br = Some(q),
                "gzip" | "x-gzip" => gzip = Some(q),
                "*" => star = Some(q),
                _ => {}
            }
        }
        let br = br.or(star).unwrap_or(0.0);
        let gzip = gzip.or(star).unwrap_or(0.0);
        let mut out = Vec::with_capacity(3);
        match (br > 0.0, gzip > 0.0) {
            (true, true) if gzip > br => out.extend([Coding::Gzip, Coding::Brotli]),
            (true, true) => out.extend([Coding::Brotli, Coding::Gzip]),
            (true, false) => out.push(Coding::Brotli),
            (false, true) => out.push(Coding::Gzip),
            (false, false) => {}
        }
        out.push(Coding::Identity);
        out
    }
}

/// One file of `pkg/`, in memory.
pub struct Asset {
    pub content_type: &'static str,
    pub body: Bytes,
    /// A hash of the content (the `ETag`, with the coding appended).
    pub digest: String,
    /// Compressed copies: read from the `.br`/`.gz` files next to the file
    /// when they hold its content, else made on first use. Empty when
    /// compressing does not pay (images, fonts, copies that are not smaller).
    gzip: OnceCell<Option<Bytes>>,
    brotli: OnceCell<Option<Bytes>>,
}

impl Asset {
    fn new(name: &str, body: Vec<u8>) -> Asset {
        let digest = hex::encode(&Sha256::digest(&body)[..8]);
        Asset {
            content_type: content_type(name),
            body: Bytes::from(body),
            digest,
            gzip: OnceCell::new(),
            brotli: OnceCell::new(),
        }
    }

    fn compressible(&self) -> bool {
        let t = self.content_type;
        t.starts_with("text/")
            || t.starts_with("application/wasm")
            || t.starts_with("application/json")
            || t.starts_with("image/svg")
    }

    /// The file in `coding`, or `None` when there is no smaller copy in it.
    pub async fn encoded(&self, coding: Coding) -> Option<Bytes> {
        let cell = match coding {
            Coding::Identity => return Some(self.body.clone()),
            Coding::Gzip => &self.gzip,
            Coding::Brotli => &self.brotli,
        };
        if !self.compressible() {
            return None;
        }
        let body = self.body.clone();
        cell.get_or_init(|| async move {
            // Compressing a large file takes a while: off the async threads.
            tokio::task::spawn_blocking(move || compress(&body, coding))
                .await
                .ok()
                .flatten()
        })
        .await
        .clone()
    }
}

/// `body` in `coding`, if that is smaller.
fn compress(body: &[u8], coding: Coding) -> Option<Bytes> {
    let mut out = Vec::new();
    let done = match coding {
        Coding::Identity => return None,
        Coding::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::best());
            enc.write_all(body).and_then(|()| enc.finish().map(drop))
        }
        Coding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &body[..], &mut out, &params).map(drop)
        }
    };
    match done {
        Ok(()) if out.len() < body.len() => Some(Bytes::from(out)),
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(error = %e, ?coding, "cannot compress a static file");
            None
        }
    }
}

/// The built site's `pkg/` directory, loaded into memory at startup, with the
/// content hash that names the bundle: `mooring-frontend.<hash>.js`,
/// `mooring-frontend.<hash>_bg.wasm` and `mooring.<hash>.css` are served for
/// a year without revalidation; every file also answers under its plain name
/// (pages cached before a deploy still find theirs), revalidated each time.
#[derive(Default)]
pub struct Bundle {
    /// By path inside `pkg/` (`mooring.css`, `snippets/x/y.js`).
    files: HashMap<String, Arc<Asset>>,
    /// Hashed name → plain name.
    hashed: HashMap<String, String>,
    hash: Option<String>,
}

impl Bundle {
    /// Load `dir` (the site's `pkg/`); `output_name` is the bundle's base
    /// name (`mooring-frontend`). A missing directory is an empty bundle:
    /// pages render, nothing hydrates (the caller says so).
    pub fn load(dir: &Path, output_name: &str) -> Bundle {
        let mut found = Vec::new();
        if let Err(e) = walk(dir, dir, &mut found) {
            if dir.exists() {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the site's pkg/ directory");
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let names: HashSet<String> = found.iter().map(|(n, _)| n.clone()).collect();
        let mut bundle = Bundle::default();
        let mut whole = Sha256::new();
        for (name, path) in &found {
            // `x.js.br` and `x.js.gz` are copies of `x.js`, not files of their own.
            if [Coding::Brotli, Coding::Gzip].iter().any(|c| {
                name.strip_suffix(c.suffix())
                    .is_some_and(|base| names.contains(base))
            }) {
                continue;
            }
            let body = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read a static file");
                    continue;
                }
            };
            let asset = Asset::new(name, body);
            whole.update((name.len() as u64).to_le_bytes());
            whole.update(name.as_bytes());
            whole.update(asset.digest.as_bytes());
            for coding in [Coding::Gzip, Coding::Brotli] {
                if let Some(copy) = precompressed(path, &asset.body, coding) {
                    let cell = match coding {
                        Coding::Gzip => &asset.gzip,
                        _ => &asset.brotli,
                    };
                    let _ = cell.set(Some(copy));
                }
            }
            bundle.files.insert(name.clone(), Arc::new(asset));
        }
        if bundle.files.is_empty() {
            return bundle;
        }
        let hash = hex::encode(&whole.finalize()[..8]);
        for (plain, hashed) in [
            (
                format!("{output_name}.js"),
                format!("{output_name}.{hash}.js"),
            ),
            (
                format!("{output_name}_bg.wasm"),
                format!("{output_name}.{hash}_bg.wasm"),
            ),
            (STYLESHEET.to_string(), hashed_stylesheet(&hash)),
        ] {
            if bundle.files.contains_key(&plain) {
                bundle.hashed.insert(hashed, plain);
            }
        }
        bundle.hash = Some(hash);
        bundle
    }

    /// The content hash of the bundle (none when nothing was loaded).
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// The file a request path inside `pkg/` names, and whether that name
    /// is hashed (so the content behind it never changes).
    pub fn get(&self, name: &str) -> Option<(&Arc<Asset>, bool)> {
        if let Some(plain) = self.hashed.get(name) {
            return self.files.get(plain).map(|a| (a, true));
        }
        self.files.get(name).map(|a| (a, false))
    }
}

/// The stylesheet's name in a bundle with `hash` (the shell derives the same
/// name from the bundle's output name, see `mooring_app::stylesheet_href`).
pub fn hashed_stylesheet(hash: &str) -> String {
    format!("mooring.{hash}.css")
}

/// Every file under `dir`, by its `/`-separated path relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() || path.is_file() {
            if let Ok(rel) = path.strip_prefix(root) {
                let parts: Vec<_> = rel.iter().map(|p| p.to_string_lossy()).collect();
                out.push((parts.join("/"), path));
            }
        }
    }
    Ok(())
}

/// The `.br`/`.gz` copy next to `file`, if it decodes to `body` (one left by
/// an earlier build does not).
fn precompressed(file: &Path, body: &[u8], coding: Coding) -> Option<Bytes> {
    let mut name = file.as_os_str().to_owned();
    name.push(coding.suffix());
    let copy = PathBuf::from(name);
    let packed = std::fs::read(&copy).ok()?;
    let limit = body.len() as u64 + 1;
    let mut decoded = Vec::with_capacity(body.len());
    let read = match coding {
        Coding::Identity => return None,
        Coding::Gzip => flate2::read::GzDecoder::new(&packed[..])
            .take(limit)
            .read_to_end(&mut decoded),
        Coding::Brotli => brotli::Decompressor::new(&packed[..], 4096)
            .take(limit)
            .read_to_end(&mut decoded),
    };
    if read.is_ok() && decoded == body {
        Some(Bytes::from(packed))
    } else {
        tracing::warn!(file = %copy.display(), "ignoring a compressed copy that is not its file's content (left by an earlier build?)");
        None
    }
}

fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_picks_brotli_then_gzip_then_identity() {
        use Coding::*;
        assert_eq!(Coding::preferred(None), vec![Identity]);
        assert_eq!(
            Coding::preferred(Some("gzip, deflate, br, zstd")),
            vec![Brotli, Gzip, Identity]
        );
        assert_eq!(Coding::preferred(Some("gzip")), vec![Gzip, Identity]);
        assert_eq!(
            Coding::preferred(Some("br;q=0, gzip")),
            vec![Gzip, Identity]
        );
        assert_eq!(
            Coding::preferred(Some("br;q=0.5, gzip;q=0.9")),
            vec![Gzip, Brotli, Identity]
        );
        assert_eq!(Coding::preferred(Some("*")), vec![Brotli, Gzip, Identity]);
        assert_eq!(Coding::preferred(Some("identity")), vec![Identity]);
        assert_eq!(Coding::preferred(Some("")), vec![Identity]);
    }

    #[tokio::test]
    async fn a_bundle_is_hashed_by_content_and_keeps_its_plain_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("snippets")).unwrap();
        std::fs::write(dir.path().join("app.js"), "export default 1;\n".repeat(50)).unwrap();
        std::fs::write(dir.path().join("app_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.path().join("mooring.css"), "body{}").unwrap();
        std::fs::write(dir.path().join("snippets/x.js"), "1").unwrap();
        let b = Bundle::load(dir.path(), "app");
        let hash = b.hash().unwrap().to_string();
        assert_eq!(hash.len(), 16);
        let (js, hashed) = b.get(&format!("app.{hash}.js")).unwrap();
        assert!(hashed);
        assert_eq!(js.content_type, "text/javascript; charset=utf-8");
        assert!(b.get(&format!("app.{hash}_bg.wasm")).unwrap().1);
        assert!(b.get(&format!("mooring.{hash}.css")).unwrap().1);
        assert!(!b.get("app.js").unwrap().1);
        assert!(!b.get("snippets/x.js").unwrap().1);
        assert!(b.get("app.0000000000000000.js").is_none());
        assert!(b.get(&format!("snippets/x.{hash}.js")).is_none());
        // Compressed on first use; a copy that is not smaller is not kept.
        let gz = js.encoded(Coding::Gzip).await.unwrap();
        assert!(gz.len() < js.body.len());
        let tiny = b.get("snippets/x.js").unwrap().0;
        assert!(tiny.encoded(Coding::Brotli).await.is_none());
        // Another content, another hash; the same content, the same hash.
        assert_eq!(Bundle::load(dir.path(), "app").hash(), Some(hash.as_str()));
        std::fs::write(dir.path().join("mooring.css"), "body{color:red}").unwrap();
        assert_ne!(Bundle::load(dir.path(), "app").hash(), Some(hash.as_str()));
        // An empty or missing directory: nothing, no hash.
        assert!(Bundle::load(&dir.path().join("nope"), "app")
            .hash()
            .is_none());
    }

    #[test]
    fn a_precompressed_copy_is_used_only_when_it_holds_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let body = "body{}".repeat(100);
        std::fs::write(dir.path().join("mooring.css"), &body).unwrap();
        let gz = compress(body.as_bytes(), Coding::Gzip).unwrap();
        std::fs::write(dir.path().join("mooring.css.gz"), &gz).unwrap();
        std::fs::write(dir.path().join("mooring.css.br"), b"not brotli").unwrap();
        let b = Bundle::load(dir.path(), "app");
        assert!(
            b.get("mooring.css.gz").is_none(),
            "a copy is not a file of its own"
        );
        let a = b.get("mooring.css").unwrap().0;
        assert_eq!(a.gzip.get(), Some(&Some(gz)));
        assert!(a.brotli.get().is_none(), "an unreadable copy is ignored");
        // A copy of other content (an earlier build's) is ignored too.
        std::fs::write(
            dir.path().join("mooring.css"),
            "body{color:red}".repeat(100),
        )
        .unwrap();
        let b = Bundle::load(dir.path(), "app");
        assert!(b.get("mooring.css").unwrap().0.gzip.get().is_none());
    }
}
