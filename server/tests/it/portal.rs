//! Signing in and out of the portals with plain forms (no JavaScript needed).

use crate::common::{set_cookie, TestServer};
use mooring_core::{testkit, users};
use reqwest::{header, redirect::Policy, StatusCode};
use secrecy::SecretString;

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_string()
}

async fn form_login(
    s: &TestServer,
    c: &reqwest::Client,
    email: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    c.post(s.url("/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", email), ("password", password), ("next", next)])
        .send()
        .await
        .unwrap()
}

async fn portal_flow(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let c = no_redirects();

    // Anonymous: the admin area sends you to sign in, and remembers where you were going.
    let r = c.get(s.url("/admin/system")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Fadmin%2Fsystem");
    assert!(r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("no-store"));

    // Wrong password: back to the form with the reason and the email kept.
    let r = form_login(&s, &c, EMAIL, "wrong password!", "/admin/system").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = location(&r);
    assert!(
        loc.starts_with("/login?error=invalid_credentials&email=ops%40example.com"),
        "{loc}"
    );
    let page = c
        .get(s.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Wrong email or password."), "{page}");
    assert!(page.contains("value=\"ops@example.com\""));

    // Empty fields are named.
    let r = form_login(&s, &c, "", "x", "").await;
    assert!(location(&r).starts_with("/login?error=email_required"));
    let page = c
        .get(s.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"email-error\""), "{page}");

    // A sign-in posted from another site is refused (login CSRF).
    let r = c
        .post(s.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login?error=forbidden_origin"));
    assert!(r.headers().get(header::SET_COOKIE).is_none());

    // Right password: to the page asked for, with a session cookie.
    let r = form_login(&s, &c, EMAIL, PASSWORD, "/admin/system").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/system");
    let cookie = set_cookie(&r);
    let r = c
        .get(s.url("/admin"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("no-store"));
    let html = r.text().await.unwrap();
    assert!(html.contains("data-testid=\"db-status\""), "{html}");
    assert!(html.contains(EMAIL));
    // An operator asking for the customer portal is sent to the admin portal.
    let r = c
        .get(s.url("/portal"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/admin");
    // Already signed in: an off-site `next` is ignored.
    let r = form_login(&s, &c, EMAIL, PASSWORD, "//evil.test/").await;
    assert_eq!(location(&r), "/admin");

    // Sign out: the old cookie opens nothing any more.
    let r = c
        .post(s.url("/logout"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?signed_out=1");
    let r = c
        .get(s.url("/admin"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    s.stop().await;
}

mooring_core::on_both_backends!(portal_flow);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_server_function_is_for_operators_only() {
    let s = TestServer::start(testkit::sqlite().await).await;
    let r = no_redirects()
        .post(s.url("/_fn/system_status"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    // Refused at the edge by the route table, before the function runs.
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().await.unwrap();
    assert!(body.contains("Sign in first"), "{body}");
    // Called from another site, a server function is refused before it runs.
    let r = no_redirects()
        .post(s.url("/_fn/system_status"))
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!body.contains("sqlite"), "{body}");
    s.stop().await;
}

/// The anonymous sign-in page is rendered once and served from memory, but
/// only to visitors it cannot differ for: a query, a cookie or a credential
/// gets its own rendering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anonymous_sign_in_page_is_kept_only_for_those_it_fits() {
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let c = no_redirects();
    let page = |r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get(header::SET_COOKIE).is_none());
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("text/html"), "{ct}");
        r.text().await.unwrap()
    };
    let first = page(c.get(s.url("/login")).send().await.unwrap()).await;
    assert!(first.contains("Sign in to Mooring"));
    let again = page(c.get(s.url("/login")).send().await.unwrap()).await;
    assert_eq!(first, again);
    // A query is rendered for itself, not answered with the kept page.
    let out = page(c.get(s.url("/login?signed_out=1")).send().await.unwrap()).await;
    assert!(out.contains("You are signed out."));
    assert!(!again.contains("You are signed out."));
    // Signing in from the kept page works as from any other.
    let r = form_login(&s, &c, EMAIL, PASSWORD, "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin");
}
