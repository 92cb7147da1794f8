//! Billing notices reach a real SMTP server (aiosmtpd on loopback): order
//! confirmation, payment received, renewal invoice, overdue reminder and
//! suspension, each with a plain-text part, each sent once.

use std::sync::Arc;

use crate::common::SmtpSink;
use mooring_core::{
    billing::{
        customers::{self, CustomerInput},
        invoices,
        lifecycle::{self, Policy},
        notices::{self, Notifier},
        orders::{self, ItemInput, OrderInput},
        products::{self, PriceInput, ProductInput},
        subscriptions::{self, SubscriptionFilter},
        Viewer,
    },
    jobs::{Registry, Worker},
    mail::Mailer,
    paging::PageQuery,
    testkit, DEFAULT_TENANT_ID,
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
    let admin = Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    };
    let pod = products::create(
        &db,
        &admin,
        "op",
        ProductInput {
            name: Some("CloudPod Mini".into()),
            kind: Some("cloudpod".into()),
            sku: Some("CPOD".into()),
            billing_cycles: Some(vec![PriceInput {
                cycle: "monthly".into(),
                price: "9.99".parse().unwrap(),
                currency: "EUR".into(),
            }]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let cust = customers::create(
        &db,
        &admin,
        "op",
        CustomerInput {
            name: Some("Ana Silva".into()),
            email: Some("ana@example.com".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, inv) = orders::create(
        &db,
        &admin,
        "op",
        OrderInput {
            customer_id: Some(cust.id.clone()),
            items: vec![ItemInput {
                product_id: pod.id.clone(),
                billing_cycle: "monthly".into(),
                quantity: None,
                addons: vec![],
            }],
            coupon_code: None,
            currency: None,
        },
    )
    .await
    .unwrap();
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
    let m = sink.wait_for(5).await;
    let subjects: Vec<&str> = m
        .iter()
        .filter_map(|x| x.lines().find(|l| l.starts_with("Subject: ")))
        .collect();
    for want in [
        "Subject: Invoice INV-000002 (9.99 EUR)",
        "Subject: Overdue: invoice INV-000002",
        "Subject: CloudPod Mini suspended",
    ] {
        assert!(subjects.contains(&want), "{want} in {subjects:?}");
    }
    assert_eq!(m.len(), 5, "{subjects:?}");
}

mooring_core::on_both_backends!(notices_flow);
