//! `GET /pkg/{*file}`: the built site's files, from memory (see
//! [`Bundle`]): the bundle under its content-hashed names with a year of
//! caching, every file under its plain name revalidated by `ETag`, each in
//! brotli or gzip when the browser takes it.

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use crate::assets::{Bundle, Coding, IMMUTABLE, REVALIDATE};

/// Answer a request for `name` (the path inside `/pkg/`).
pub async fn serve(bundle: &Bundle, name: &str, headers: &HeaderMap) -> Response {
    let Some((asset, hashed)) = bundle.get(name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, REVALIDATE)],
            "No such file.",
        )
            .into_response();
    };
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let mut chosen = (Coding::Identity, asset.body.clone());
    for coding in Coding::preferred(accept) {
        if let Some(body) = asset.encoded(coding).await {
            chosen = (coding, body);
            break;
        }
    }
    let (coding, body) = chosen;
    // One tag per representation: a compressed copy is another entity.
    let etag = match coding.header() {
        Some(enc) => format!("\"{}-{enc}\"", asset.digest),
        None => format!("\"{}\"", asset.digest),
    };
    let mut resp = if matches_etag(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Body::from(body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(enc) = coding.header() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if hashed { IMMUTABLE } else { REVALIDATE }),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}
