//! The admin portal's account and credential pages, driven as a browser
//! without JavaScript would: plain form posts, redirects, one-time messages.

use crate::common::{set_cookie, TestServer};
use mooring_core::{testkit, users};
use reqwest::{header, redirect::Policy, StatusCode};
use secrecy::SecretString;

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

struct Browser<'a> {
    s: &'a TestServer,
    c: reqwest::Client,
    cookie: String,
}

impl Browser<'_> {
    async fn sign_in<'s>(s: &'s TestServer, email: &str, password: &str) -> Browser<'s> {
        let c = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        let r = c
            .post(s.url("/login"))
            .header("sec-fetch-site", "same-origin")
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookie(&r);
        Browser { s, c, cookie }
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let r = self
            .c
            .post(self.s.url(path))
            .header(header::COOKIE, &self.cookie)
            .header("sec-fetch-site", "same-origin")
            .form(form)
            .send()
            .await
            .unwrap();
        if let Some(c) = r.headers().get(header::SET_COOKIE) {
            self.cookie = c.to_str().unwrap().split(';').next().unwrap().to_string();
        }
        r
    }

    async fn page(&self, path: &str) -> String {
        let r = self
            .c
            .get(self.s.url(path))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.text().await.unwrap()
    }
}

fn secret_in(html: &str) -> String {
    let at = html
        .find("data-testid=\"secret\">")
        .expect("a secret on the page")
        + "data-testid=\"secret\">".len();
    html[at..].split('<').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_credentials_through_the_admin_forms() {
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let mut b = Browser::sign_in(&s, EMAIL, PASSWORD).await;

    // Forms from another site are refused outright.
    let r =
        b.c.post(s.url("/admin/users"))
            .header(header::COOKIE, &b.cookie)
            .header("sec-fetch-site", "cross-site")
            .form(&[
                ("name", "X"),
                ("email", "x@example.com"),
                ("password", "long enough pw"),
                ("role", "admin"),
            ])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A new operator: a message once, then the list.
    let r = b
        .post(
            "/admin/users",
            &[
                ("name", "Sam"),
                ("email", "sam@example.com"),
                ("password", "staff password 1"),
                ("role", "staff"),
            ],
        )
        .await;
    assert_eq!(r.headers()[header::LOCATION], "/admin/users");
    let page = b.page("/admin/users").await;
    assert!(
        page.contains("Created the account sam@example.com."),
        "{page}"
    );
    assert!(page.contains("sam@example.com") && page.contains("staff"));
    assert!(
        !b.page("/admin/users").await.contains("Created the account"),
        "the message shows once"
    );
    let r = b
        .post(
            "/admin/users",
            &[
                ("name", "Short"),
                ("email", "short@example.com"),
                ("password", "short"),
                ("role", "staff"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = b.page("/admin/users").await;
    assert!(page.contains("Password must be at least 12 characters."));
    assert!(
        page.contains("data-field=\"password\""),
        "the error stands next to the password field: {page}"
    );

    // Roles change from the list; the last admin stays an admin.
    let sam_id = mooring_core::identity::user_by_email(&s.db.db, "sam@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    b.post(&format!("/admin/users/{sam_id}/role"), &[("role", "admin")])
        .await;
    assert!(b
        .page("/admin/users")
        .await
        .contains("sam@example.com is now admin."));
    b.post(&format!("/admin/users/{sam_id}/role"), &[("role", "staff")])
        .await;
    let me_id = mooring_core::identity::user_by_email(&s.db.db, EMAIL)
        .await
        .unwrap()
        .unwrap()
        .id;
    b.post(&format!("/admin/users/{me_id}/role"), &[("role", "staff")])
        .await;
    let page = b.page("/admin/users").await;
    assert!(page.contains("last active admin"), "{page}");

    // Tenants, for the platform admin.
    b.post("/admin/tenants", &[("name", "Acme Hosting")]).await;
    let page = b.page("/admin/tenants").await;
    assert!(
        page.contains("Created the tenant “Acme Hosting” (acme-hosting)."),
        "{page}"
    );
    assert!(page.contains("acme-hosting"));

    // Disable and end sessions.
    let sam = mooring_core::identity::user_by_email(&s.db.db, "sam@example.com")
        .await
        .unwrap()
        .unwrap();
    let staff = Browser::sign_in(&s, "sam@example.com", "staff password 1").await;
    b.post(&format!("/admin/users/{}/end-sessions", sam.id), &[])
        .await;
    assert!(b
        .page("/admin/users")
        .await
        .contains("Every session of that account has ended."));
    let r = staff
        .c
        .get(s.url("/admin"))
        .header(header::COOKIE, &staff.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the staff member was signed out"
    );
    b.post(&format!("/admin/users/{}/disable", sam.id), &[])
        .await;
    assert!(b
        .page("/admin/users")
        .await
        .contains("sam@example.com is now disabled."));
    let r = staff
        .c
        .post(s.url("/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("email", "sam@example.com"),
            ("password", "staff password 1"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .contains("error=invalid_credentials"));

    // An API key: its secret is shown once and works.
    b.post("/admin/api-keys", &[("name", "CI deploys")]).await;
    let page = b.page("/admin/api-keys").await;
    assert!(page.contains("Created the API key “CI deploys”."), "{page}");
    let key = secret_in(&page);
    assert!(key.starts_with("mk_"));
    let again = b.page("/admin/api-keys").await;
    assert!(!again.contains(&key) && again.contains("CI deploys"));
    let r = s
        .client
        .get(s.url("/api/v1/tokens"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = mooring_core::identity::api_keys::list(&s.db.db, mooring_core::DEFAULT_TENANT_ID)
        .await
        .unwrap()[0]
        .id
        .clone();
    b.post(&format!("/admin/api-keys/{id}/revoke"), &[]).await;
    assert!(b
        .page("/admin/api-keys")
        .await
        .contains("The API key is revoked."));
    let r = s
        .client
        .get(s.url("/api/v1/tokens"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // An access token with two scopes and an expiry date.
    b.post(
        "/admin/tokens",
        &[
            ("name", "deployer"),
            ("kind", "personal"),
            ("scope", "read"),
            ("scope", "deploy"),
            ("expires_on", "2999-12-31"),
        ],
    )
    .await;
    let page = b.page("/admin/tokens").await;
    let token = secret_in(&page);
    assert!(token.starts_with("mpat_"));
    let page = b.page("/admin/tokens").await;
    assert!(
        page.contains("personal · read, deploy") && page.contains("2999-12-31 23:59"),
        "{page}"
    );
    let r = s
        .client
        .get(s.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    b.post(
        "/admin/tokens",
        &[("name", "bad"), ("kind", "personal"), ("scope", "root")],
    )
    .await;
    assert!(b
        .page("/admin/tokens")
        .await
        .contains("Unknown scope `root`"));

    // Changing one's password: wrong current refused; then other sessions end, this one stays.
    let other = Browser::sign_in(&s, EMAIL, PASSWORD).await;
    b.post(
        "/admin/profile/password",
        &[
            ("current", "not it at all"),
            ("password", "a brand new password"),
            ("confirm", "a brand new password"),
        ],
    )
    .await;
    let page = b.page("/admin/profile").await;
    assert!(page.contains("The current password is wrong."));
    assert!(
        page.contains("data-field=\"current\""),
        "next to the current password: {page}"
    );
    b.post(
        "/admin/profile/password",
        &[
            ("current", PASSWORD),
            ("password", "a brand new password"),
            ("confirm", "a brand new password"),
        ],
    )
    .await;
    assert!(b
        .page("/admin/profile")
        .await
        .contains("Your password is changed"));
    let r = other
        .c
        .get(s.url("/admin"))
        .header(header::COOKIE, &other.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the other device is signed out"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_check_runs_as_a_job_the_admin_can_follow() {
    use mooring_core::jobs::{
        system_check::{SystemCheck, KIND},
        Registry, Worker,
    };
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let s = TestServer::start(t).await;
    let mut b = Browser::sign_in(&s, EMAIL, PASSWORD).await;
    let r = b.post("/admin/system/check", &[]).await;
    let to = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(to.starts_with("/admin/jobs/"), "{to}");
    let page = b.page(&to).await;
    assert!(
        page.contains("System check queued.") && page.contains(">queued<"),
        "{page}"
    );
    assert!(b
        .page("/admin/jobs?status=queued")
        .await
        .contains("system.check"));
    let dir = tempfile::tempdir().unwrap();
    Worker::new(
        db.clone(),
        Registry::new().register(
            KIND,
            SystemCheck {
                data_dir: dir.path().to_path_buf(),
            },
        ),
    )
    .run_one()
    .await
    .unwrap();
    let page = b.page(&to).await;
    assert!(
        page.contains(">succeeded<")
            && page.contains("is writable")
            && page.contains("aria-valuenow=\"100\""),
        "{page}"
    );
    assert!(
        !page.contains(">Retry<") && !page.contains(">Cancel<"),
        "no actions on a finished job"
    );
    // The dashboard counts the queue; the audit log shows who did what.
    let dash = b.page("/admin").await;
    assert!(
        dash.contains("data-testid=\"job-counters\"") && dash.contains("Jobs queued"),
        "{dash}"
    );
    let audit = b.page("/admin/audit").await;
    assert!(
        audit.contains("auth.login") && audit.contains("127.0.0.1"),
        "{audit}"
    );
    assert!(!b
        .page("/admin/audit?type=user.")
        .await
        .contains("auth.login"));
    // A queued job can be cancelled from its page, then retried.
    b.post("/admin/system/check", &[]).await;
    let queued = mooring_core::jobs::list(
        &db,
        &mooring_core::identity::Principal::for_user(
            &mooring_core::identity::user_by_email(&db, EMAIL)
                .await
                .unwrap()
                .unwrap(),
            mooring_core::identity::Via::Session,
            mooring_core::identity::Scope::Admin,
        ),
        &mooring_core::jobs::JobFilter {
            status: Some("queued".into()),
            ..Default::default()
        },
        mooring_core::paging::PageQuery::default().check().unwrap(),
    )
    .await
    .unwrap()
    .0[0]
        .id
        .clone();
    b.post(&format!("/admin/jobs/{queued}/cancel"), &[]).await;
    let page = b.page(&format!("/admin/jobs/{queued}")).await;
    assert!(
        page.contains("The job is cancelled.") && page.contains(">Retry<"),
        "{page}"
    );
    b.post(&format!("/admin/jobs/{queued}/retry"), &[]).await;
    assert!(b
        .page(&format!("/admin/jobs/{queued}"))
        .await
        .contains("The job is queued again."));
    s.stop().await;
}

/// The one text column of every row `sql` selects.
async fn rows(s: &TestServer, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql)
        .fetch_all(s.db.db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shown_once_secrets_are_sealed_between_the_form_and_the_page() {
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let mut b = Browser::sign_in(&s, EMAIL, PASSWORD).await;
    let mut other = Browser::sign_in(&s, EMAIL, PASSWORD).await;

    for (path, form, prefix) in [
        (
            "/admin/tokens",
            vec![("name", "ci"), ("kind", "personal"), ("scope", "read")],
            "mpat_",
        ),
        ("/admin/api-keys", vec![("name", "shop")], "mk_"),
    ] {
        let r = b.post(path, &form).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        // Between the form and the page, the database holds it sealed.
        let flashes = rows(&s, "SELECT flash FROM flashes").await;
        let sessions = rows(&s, "SELECT data FROM sessions").await;
        assert_eq!(flashes.len(), 1, "{flashes:?}");
        assert!(flashes[0].contains(r#""secret":"v2:"#), "{flashes:?}");
        // Moved to another session's flash row, it does not open there.
        other
            .post(
                "/admin/tokens",
                &[("name", "x"), ("kind", "personal"), ("scope", "root")],
            )
            .await;
        let n = sqlx::query("UPDATE flashes SET flash = $1 WHERE flash <> $1")
            .bind(&flashes[0])
            .execute(s.db.db.pool())
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(n, 1);
        let page = other.page(path).await;
        assert!(page.contains("Created the"), "{page}");
        assert!(!page.contains("data-testid=\"secret\""), "{page}");
        // The page it was made for shows it, once.
        let secret = secret_in(&b.page(path).await);
        assert!(secret.starts_with(prefix), "{secret}");
        for row in flashes.iter().chain(&sessions) {
            assert!(!row.contains(&secret), "stored in the clear: {row}");
        }
        assert!(!b.page(path).await.contains(&secret));
        assert!(rows(&s, "SELECT flash FROM flashes").await.is_empty());
    }

    let flash = mooring_app::server::Flash {
        kind: "ok".into(),
        message: "Created".into(),
        secret: Some("mk_hunter2secret".into()),
        field: None,
        values: Vec::new(),
    };
    let dbg = format!("{flash:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    s.stop().await;
}
