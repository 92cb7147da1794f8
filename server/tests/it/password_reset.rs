//! Password reset by email, through a real SMTP server on loopback.

use crate::common::{SmtpSink, TestServer};
use mooring_core::{testkit, users};
use mooring_server::config::Config;
use reqwest::{header, redirect::Policy, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

fn token_in(mail: &str) -> String {
    let at =
        mail.find("/reset-password?token=").expect("a reset link") + "/reset-password?token=".len();
    mail[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn server(t: testkit::TestDb, sink: &SmtpSink) -> TestServer {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let config = Config {
        smtp_url: Some(SecretString::from(sink.url())),
        public_url: Some("https://panel.example.test".into()),
        ..Config::default()
    };
    TestServer::start_with(t, config).await
}

async fn api_flow(t: testkit::TestDb) {
    let sink = SmtpSink::start().await;
    let s = server(t, &sink).await;
    // A signed-in session that the reset must end.
    let r = s
        .client
        .post(s.url("/api/auth/login"))
        .json(&json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let refresh = r.json::<Value>().await.unwrap()["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();

    // Unknown and known addresses answer alike.
    for email in ["nobody@example.com", EMAIL] {
        let r = s
            .client
            .post(s.url("/api/v1/auth/password-reset/request"))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({ "ok": true }));
    }
    let mails = sink.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "no mail for an unknown address");
    let mail = &mails[0];
    assert!(
        mail.contains("Subject: Reset your Mooring password"),
        "{mail}"
    );
    assert!(mail.contains("To: ops@example.com"), "{mail}");
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(
        mail.contains("https://panel.example.test/reset-password?token="),
        "{mail}"
    );
    let token = token_in(mail);

    // A weak password is refused and names the field; the link stays usable.
    let r = s
        .client
        .post(s.url("/api/v1/auth/password-reset/confirm"))
        .json(&json!({ "token": token, "new_password": "short" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["details"][0]["field"],
        "new_password"
    );
    let r = s
        .client
        .post(s.url("/api/v1/auth/password-reset/confirm"))
        .json(&json!({ "token": token, "new_password": "a fresh new password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Single use.
    let r = s
        .client
        .post(s.url("/api/v1/auth/password-reset/confirm"))
        .json(&json!({ "token": token, "new_password": "yet another password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_reset_token"
    );
    // Every other session ended; the new password works, the old does not.
    let r = s
        .client
        .post(s.url("/api/auth/refresh"))
        .json(&json!({ "refreshToken": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .client
        .post(s.url("/api/auth/login"))
        .json(&json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .client
        .post(s.url("/api/auth/login"))
        .json(&json!({ "email": EMAIL, "password": "a fresh new password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Requests per account are capped: three links an hour.
    for _ in 0..3 {
        s.client
            .post(s.url("/api/v1/auth/password-reset/request"))
            .json(&json!({ "email": EMAIL }))
            .send()
            .await
            .unwrap();
    }
    sink.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        sink.messages().len(),
        3,
        "the fourth link in an hour is not sent"
    );
    assert_eq!(
        mooring_core::audit::by_action(&s.db.db, "auth.password_reset")
            .await
            .unwrap()
            .len(),
        1
    );
    s.stop().await;
}

mooring_core::on_both_backends!(api_flow);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_with_the_portal_forms() {
    let sink = SmtpSink::start().await;
    let s = server(testkit::sqlite().await, &sink).await;
    let c = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let post = |path: &str, form: Vec<(&str, String)>| {
        c.post(s.url(path))
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
    };
    let r = post("/forgot-password", vec![("email", EMAIL.into())])
        .await
        .unwrap();
    assert_eq!(r.headers()[header::LOCATION], "/forgot-password?sent=1");
    let page = c
        .get(s.url("/forgot-password?sent=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("a link to choose a new password is on its way"));
    let token = token_in(&sink.wait_for(1).await[0]);
    let page = c
        .get(s.url(&format!("/reset-password?token={token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("value=\"{token}\"")),
        "the form carries the token"
    );
    let r = post(
        "/reset-password",
        vec![
            ("token", token.clone()),
            ("password", "one new password".into()),
            ("confirm", "another one!!".into()),
        ],
    )
    .await
    .unwrap();
    assert!(r.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .ends_with("error=mismatch"));
    let r = post(
        "/reset-password",
        vec![
            ("token", "bogus".into()),
            ("password", "one new password".into()),
            ("confirm", "one new password".into()),
        ],
    )
    .await
    .unwrap();
    assert!(r.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .ends_with("error=invalid_token"));
    let r = post(
        "/reset-password",
        vec![
            ("token", token.clone()),
            ("password", "one new password".into()),
            ("confirm", "one new password".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.headers()[header::LOCATION], "/login?reset=1");
    let page = c
        .get(s.url("/login?reset=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your password is changed."));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_goes_to_the_outbox() {
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(
        t,
        Config {
            data_dir: data.path().to_path_buf(),
            ..Config::default()
        },
    )
    .await;
    s.client
        .post(s.url("/api/v1/auth/password-reset/request"))
        .json(&json!({ "email": EMAIL }))
        .send()
        .await
        .unwrap();
    let outbox = data.path().join("outbox");
    for _ in 0..100 {
        if std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    assert!(std::fs::read_to_string(&files[0])
        .unwrap()
        .contains("Reset your Mooring password"));
    s.stop().await;
}
