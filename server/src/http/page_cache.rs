//! Pages that are the same for everyone who is not signed in (the sign-in
//! and forgot-password forms without a query) are rendered once and then
//! served from memory for [`TTL`], ahead of the session and credential
//! layers: a visitor with any cookie, credential header or query string
//! always gets a freshly rendered page.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// The pages kept.
pub const PATHS: &[&str] = &["/login", "/forgot-password"];
/// How long a rendered page is served before it is rendered again.
pub const TTL: Duration = Duration::from_secs(10);
/// Pages larger than this are not kept.
const MAX_PAGE: usize = 8 * 1024 * 1024;

struct Page {
    at: Instant,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// See the module documentation.
#[derive(Default, Clone)]
pub struct SameForEveryone {
    pages: Arc<Mutex<HashMap<&'static str, Page>>>,
}

fn keyable(req: &Request) -> Option<&'static str> {
    if req.method() != Method::GET || req.uri().query().is_some() {
        return None;
    }
    let h = req.headers();
    if h.contains_key(header::COOKIE)
        || h.contains_key(header::AUTHORIZATION)
        || h.contains_key("x-api-key")
    {
        return None;
    }
    PATHS.iter().copied().find(|p| *p == req.uri().path())
}

impl SameForEveryone {
    fn hit(&self, path: &str) -> Option<Response> {
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        let page = pages.get(path).filter(|p| p.at.elapsed() < TTL)?;
        let mut resp = Response::new(Body::from(page.body.clone()));
        *resp.status_mut() = page.status;
        *resp.headers_mut() = page.headers.clone();
        Some(resp)
    }
}

/// Middleware: see the module documentation.
pub async fn layer(State(cache): State<SameForEveryone>, req: Request, next: Next) -> Response {
    let Some(path) = keyable(&req) else {
        return next.run(req).await;
    };
    if let Some(resp) = cache.hit(path) {
        return resp;
    }
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK || resp.headers().contains_key(header::SET_COOKIE) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let body = match axum::body::to_bytes(body, MAX_PAGE).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, path, "a page could not be read whole");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    cache
        .pages
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            path,
            Page {
                at: Instant::now(),
                status: parts.status,
                headers: parts.headers.clone(),
                body: body.clone(),
            },
        );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::{middleware, routing::get, Router};
    use tower::ServiceExt;

    use super::*;

    /// A router whose pages count their renderings.
    fn app(renders: Arc<AtomicUsize>) -> Router {
        let page = move |status: StatusCode, cookie: bool| {
            let renders = renders.clone();
            move || async move {
                let n = renders.fetch_add(1, Ordering::SeqCst);
                let mut resp = (status, format!("render {n}")).into_response();
                if cookie {
                    resp.headers_mut()
                        .insert(header::SET_COOKIE, "a=b".parse().unwrap());
                }
                resp
            }
        };
        Router::new()
            .route("/login", get(page(StatusCode::OK, false)))
            .route("/forgot-password", get(page(StatusCode::OK, true)))
            .route("/other", get(page(StatusCode::OK, false)))
            .layer(middleware::from_fn_with_state(
                SameForEveryone::default(),
                layer,
            ))
    }

    async fn body(app: &Router, uri: &str, headers: &[(&str, &str)]) -> String {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn only_requests_that_cannot_differ_share_a_rendering() {
        let renders = Arc::new(AtomicUsize::new(0));
        let app = app(renders.clone());
        assert_eq!(body(&app, "/login", &[]).await, "render 0");
        assert_eq!(body(&app, "/login", &[]).await, "render 0");
        // Anything that could make the page differ renders it anew.
        assert_eq!(body(&app, "/login?error=x", &[]).await, "render 1");
        assert_eq!(
            body(&app, "/login", &[("cookie", "session_token=s")]).await,
            "render 2"
        );
        assert_eq!(
            body(&app, "/login", &[("authorization", "Bearer t")]).await,
            "render 3"
        );
        assert_eq!(
            body(&app, "/login", &[("x-api-key", "k")]).await,
            "render 4"
        );
        // Pages not listed, and answers that set a cookie, are never kept.
        assert_eq!(body(&app, "/other", &[]).await, "render 5");
        assert_eq!(body(&app, "/other", &[]).await, "render 6");
        assert_eq!(body(&app, "/forgot-password", &[]).await, "render 7");
        assert_eq!(body(&app, "/forgot-password", &[]).await, "render 8");
        // The kept page is still the first rendering.
        assert_eq!(body(&app, "/login", &[]).await, "render 0");
        assert_eq!(renders.load(Ordering::SeqCst), 9);
    }
}
