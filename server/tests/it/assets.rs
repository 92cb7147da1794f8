//! The built site under `/pkg`: hashed names cached for a year, plain names
//! revalidated, brotli or gzip as the browser asks, and pages that link the
//! hashed names.

use std::io::Read;

use crate::common::TestServer;
use mooring_server::config::Config;
use reqwest::{header, StatusCode};

/// A site directory with a bundle of our own (not the real build).
fn site() -> (tempfile::TempDir, Vec<(&'static str, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pkg/snippets/x")).unwrap();
    let files: Vec<(&'static str, Vec<u8>)> = vec![
        (
            "mooring-frontend.js",
            "export function hydrate() { return 'mooring'; }\n"
                .repeat(200)
                .into_bytes(),
        ),
        (
            "mooring-frontend_bg.wasm",
            b"\0asm\x01\0\0\0"
                .iter()
                .copied()
                .cycle()
                .take(40_000)
                .enumerate()
                .map(|(i, b)| b ^ (i % 7) as u8)
                .collect(),
        ),
        (
            "mooring.css",
            "body { color: #123456; }\n".repeat(300).into_bytes(),
        ),
        ("snippets/x/inline0.js", b"export const x = 1;\n".to_vec()),
    ];
    for (name, body) in &files {
        std::fs::write(dir.path().join("pkg").join(name), body).unwrap();
    }
    (dir, files)
}

async fn start(dir: &tempfile::TempDir) -> TestServer {
    let config = Config {
        site_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    };
    TestServer::start_with(mooring_core::testkit::sqlite().await, config).await
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_assets_are_compressed_cached_for_a_year_and_linked_by_the_pages() {
    let (dir, files) = site();
    let s = start(&dir).await;

    // The page names the bundle by its hash.
    let html = s
        .client
        .get(s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hash = regex::Regex::new(r"/pkg/mooring-frontend\.([0-9a-f]{16})\.js")
        .unwrap()
        .captures(&html)
        .unwrap_or_else(|| panic!("no hashed script in the page: {html}"))[1]
        .to_string();
    assert!(
        html.contains(&format!("/pkg/mooring-frontend.{hash}_bg.wasm")),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/pkg/mooring.{hash}.css\"")),
        "{html}"
    );
    assert!(!html.contains("/pkg/mooring.css"), "{html}");

    let hashed = [
        (format!("mooring-frontend.{hash}.js"), 0, "text/javascript"),
        (
            format!("mooring-frontend.{hash}_bg.wasm"),
            1,
            "application/wasm",
        ),
        (format!("mooring.{hash}.css"), 2, "text/css"),
    ];
    for (name, file, content_type) in &hashed {
        let original = &files[*file].1;
        for (accept, expected) in [
            (Some("gzip, deflate, br"), Some("br")),
            (Some("gzip"), Some("gzip")),
            (Some("br;q=0.5, gzip;q=1"), Some("gzip")),
            (None, None),
        ] {
            let mut req = s.client.get(s.url(&format!("/pkg/{name}")));
            if let Some(a) = accept {
                req = req.header(header::ACCEPT_ENCODING, a);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            let h = r.headers().clone();
            assert_eq!(
                h[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable",
                "{name}"
            );
            assert_eq!(h[header::VARY], "accept-encoding", "{name}");
            assert!(
                h[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with(content_type),
                "{name}: {:?}",
                h[header::CONTENT_TYPE]
            );
            let encoding = h
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(encoding.as_deref(), expected, "{name} for {accept:?}");
            let body = r.bytes().await.unwrap();
            if expected.is_some() {
                assert!(body.len() < original.len(), "{name}: compressed is smaller");
            }
            assert_eq!(
                &decode(expected, &body),
                original,
                "{name} for {accept:?}: the same bytes after decompression"
            );
        }
    }

    // Unknown hashes are not found; hashes only name the bundle's three files.
    for name in [
        "mooring-frontend.0123456789abcdef.js".to_string(),
        "mooring-frontend.0123456789abcdef_bg.wasm".to_string(),
        "mooring.0123456789abcdef.css".to_string(),
        format!("snippets/x/inline0.{hash}.js"),
        "no-such-file.js".to_string(),
    ] {
        let r = s
            .client
            .get(s.url(&format!("/pkg/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_asset_names_still_answer_and_are_revalidated() {
    let (dir, files) = site();
    let s = start(&dir).await;
    for (name, original) in &files {
        let r = s
            .client
            .get(s.url(&format!("/pkg/{name}")))
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache", "{name}");
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        let encoding = r
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap().to_string());
        let body = r.bytes().await.unwrap();
        assert_eq!(&decode(encoding.as_deref(), &body), original, "{name}");
        // Revalidation: not modified, without a body.
        let r = s
            .client
            .get(s.url(&format!("/pkg/{name}")))
            .header(header::ACCEPT_ENCODING, "gzip")
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{name}");
        assert_eq!(r.headers()[header::ETAG].to_str().unwrap(), etag);
        assert!(r.bytes().await.unwrap().is_empty());
    }
    // The tiny snippet is not worth compressing: sent as it is.
    let r = s
        .client
        .get(s.url("/pkg/snippets/x/inline0.js"))
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
    s.stop().await;
}
