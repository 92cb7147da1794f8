//! Billing notices reach a real SMTP server (aiosmtpd on loopback): order
//! confirmation, payment received, renewal invoice, overdue reminder and
//! suspension, each with a plain-text part, each sent once.

use std::sync::Arc;

use crate::common::SmtpSink;
use mooring_core::{
    billing::{
        invoices,
        lifecycle::{self, Policy},
        notices::{self, Notifier},
        subscriptions::{self, SubscriptionFilter},
    },
    jobs::{Registry, Worker},
    mail::Mailer,
    paging::PageQuery,
    testkit,
};
use time::Duration;

async fn drain(w: &Worker) {
    while w.run_one().await.unwrap() {}
}

async fn notices_flow(t: testkit::TestDb) {
    let db = t.db.clone();
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(
        Some(&sink.url()),
        "Harbour Hosting <billing@harbour.test>",
        std::env::temp_dir(),
    )
    .unwrap();
    let worker = Worker::new(
        db.clone(),
        Registry::new().register(
            notices::KIND,
            Notifier {
                mailer: Arc::new(mailer),
                portal_url: "https://panel.harbour.test".into(),
            },
        ),
    );
    let (admin, _pod, _customer, inv) =
        crate::common::sold_cloudpod(&db, "EUR", "Ana Silva", "ana@example.com").await;
    drain(&worker).await;
    let m = sink.wait_for(1).await;
    assert!(
        m[0].contains("Subject: Order confirmed: invoice INV-000001"),
        "{}",
        m[0]
    );
    assert!(
        m[0].contains("Content-Type: text/plain"),
        "a plain-text part"
    );
    assert!(m[0].contains("Hello Ana Silva"));
    assert!(m[0].contains("9.99 EUR"));
    assert!(m[0].contains(&format!(
        "https://panel.harbour.test/portal/invoices/{}",
        inv.id
    )));
    assert!(m[0].contains("To: ana@example.com"));

    invoices::set_status(&db, &admin, "op", &inv.id, "paid")
        .await
        .unwrap();
    drain(&worker).await;
    let m = sink.wait_for(2).await;
    assert!(m
        .iter()
        .any(|x| x.contains("Subject: Payment received: invoice INV-000001")));

    let page = PageQuery::default().check().unwrap();
    let (subs, _) = subscriptions::list(&db, &admin, &SubscriptionFilter::default(), page)
        .await
        .unwrap();
    let renews = mooring_core::clock::parse(subs[0].renews_at.as_deref().unwrap()).unwrap();
    lifecycle::sweep(&db, Policy::default(), renews - Duration::days(3))
        .await
        .unwrap();
    // Sweeping again the same day reminds no more.
    lifecycle::sweep(&db, Policy::default(), renews - Duration::days(2))
        .await
        .unwrap();
    lifecycle::sweep(&db, Policy::default(), renews + Duration::days(1))
        .await
        .unwrap();
    lifecycle::sweep(&db, Policy::default(), renews + Duration::days(4))
        .await
        .unwrap();
    // Sweeping again sends nothing more.
    lifecycle::sweep(&db, Policy::default(), renews + Duration::days(5))
        .await
        .unwrap();
    drain(&worker).await;
    let m = sink.wait_for(6).await;
    let subjects: Vec<&str> = m
        .iter()
        .filter_map(|x| x.lines().find(|l| l.starts_with("Subject: ")))
        .collect();
    for want in [
        "Subject: Invoice INV-000002 (9.99 EUR)",
        &format!(
            "Subject: Reminder: invoice INV-000002 is due on {}",
            &subs[0].renews_at.as_deref().unwrap()[..10]
        ),
        "Subject: Overdue: invoice INV-000002",
        "Subject: CloudPod Mini suspended",
    ] {
        assert!(subjects.contains(&want), "{want} in {subjects:?}");
    }
    assert_eq!(m.len(), 6, "{subjects:?}");
}

mooring_core::on_both_backends!(notices_flow);
