//! Billing on both backends: catalog, coupons, tax, orders and their
//! invoices (numbered without gaps, also concurrently), payment activating
//! subscriptions and their service jobs, renewals and dunning.

use mooring_core::{
    billing::{
        coupons::{self, CouponInput},
        customers::{self, Address, CustomerInput},
        invoices,
        lifecycle::{self, Policy, ServiceJobs},
        orders::{self, AddonInput, ItemInput, OrderInput},
        products::{self, PriceInput, ProductInput},
        subscriptions::{self, SubscriptionFilter},
        tax::{self, TaxRateInput},
        Viewer,
    },
    db_test,
    jobs::{self, Registry, Worker},
    paging::PageQuery,
    CoreError, Db, DEFAULT_TENANT_ID,
};
use time::{Duration, OffsetDateTime};

fn admin() -> Viewer {
    Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    }
}

fn price(cycle: &str, p: &str) -> PriceInput {
    PriceInput {
        cycle: cycle.into(),
        price: p.parse().unwrap(),
        currency: "USD".into(),
    }
}

struct Shop {
    pod: String,
    backup: String,
    customer: String,
}

async fn shop(db: &Db) -> Shop {
    let pod = products::create(
        db,
        &admin(),
        "op",
        ProductInput {
            name: Some("CloudPod Mini".into()),
            kind: Some("cloudpod".into()),
            sku: Some("CPOD-MINI".into()),
            billing_cycles: Some(vec![price("monthly", "9.99"), price("yearly", "99.00")]),
            metadata: Some(serde_json::json!({ "cpu": 2, "ramMb": 2048 })),
            status: None,
        },
    )
    .await
    .unwrap();
    let backup = products::create(
        db,
        &admin(),
        "op",
        ProductInput {
            name: Some("Daily backups".into()),
            kind: Some("addon".into()),
            sku: Some("ADDON-BACKUP".into()),
            billing_cycles: Some(vec![price("monthly", "2"), price("yearly", "20")]),
            metadata: None,
            status: None,
        },
    )
    .await
    .unwrap();
    let customer = customers::create(
        db,
        &admin(),
        "op",
        CustomerInput {
            name: Some("John Doe".into()),
            email: Some("John@Example.com".into()),
            address: Some(Some(Address {
                line1: "123 Main St".into(),
                city: "Miami".into(),
                state: Some("FL".into()),
                postal_code: Some("33101".into()),
                country: "US".into(),
                line2: None,
            })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(customer.email, "john@example.com");
    tax::create(
        db,
        &admin(),
        "op",
        TaxRateInput {
            name: "Florida sales tax".into(),
            country: "US".into(),
            region: Some("FL".into()),
            rate: "7".into(),
            inclusive: false,
            valid_from: Some("2020-01-01".into()),
            valid_to: None,
        },
    )
    .await
    .unwrap();
    coupons::create(
        db,
        &admin(),
        "op",
        CouponInput {
            code: "welcome10".into(),
            kind: "percent".into(),
            percent: Some("10".into()),
            max_redemptions: Some(3),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Shop {
        pod: pod.id,
        backup: backup.id,
        customer: customer.id,
    }
}

fn order_of(s: &Shop, coupon: Option<&str>) -> OrderInput {
    OrderInput {
        customer_id: Some(s.customer.clone()),
        items: vec![ItemInput {
            product_id: s.pod.clone(),
            billing_cycle: "monthly".into(),
            quantity: None,
            addons: vec![AddonInput {
                product_id: s.backup.clone(),
                quantity: None,
            }],
        }],
        coupon_code: coupon.map(str::to_string),
        currency: None,
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

db_test!(
    async fn an_order_is_priced_exactly_and_payment_starts_the_service(db: Db) {
        let s = shop(&db).await;
        let (order, inv) = orders::create(&db, &admin(), "op", order_of(&s, Some(" Welcome10 ")))
            .await
            .unwrap();
        // 9.99 + 2.00; 10 % off: 1.00 + 0.20; 7 % tax on 8.99 and 1.80: 0.63 + 0.13.
        assert_eq!(
            (inv.subtotal, inv.discount, inv.tax, inv.total),
            (1199, 120, 76, 1155)
        );
        assert_eq!(inv.amount_due, 1155);
        assert_eq!(inv.number, 1);
        assert_eq!(inv.items.len(), 2);
        assert_eq!(inv.items.iter().map(|i| i.total).sum::<i64>(), inv.total);
        assert_eq!(inv.tax_name.as_deref(), Some("Florida sales tax"));
        assert_eq!(order.total, 1155);
        assert_eq!(order.status, "pending");
        let j = order.to_json();
        assert_eq!(j["total"], serde_json::json!(11.55));
        assert_eq!(
            j["items"][0]["addons"][0]["unitPrice"],
            serde_json::json!(2.0)
        );
        let ij = inv.to_json();
        assert_eq!(
            (ij["subtotal"].clone(), ij["tax"].clone()),
            (serde_json::json!(11.99), serde_json::json!(0.76))
        );
        assert_eq!(ij["number"], "INV-000001");

        let page = PageQuery::default().check().unwrap();
        let (subs, _) = subscriptions::list(&db, &admin(), &SubscriptionFilter::default(), page)
            .await
            .unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].status, "pending");

        // Paid by hand: the subscription starts, a provisioning job is queued.
        let paid = invoices::set_status(&db, &admin(), "op", &inv.id, "paid")
            .await
            .unwrap();
        assert_eq!(paid.status, "paid");
        assert!(paid.paid_at.is_some());
        let sub = subscriptions::get(&db, &admin(), &subs[0].id)
            .await
            .unwrap();
        assert_eq!(sub.status, "active");
        let renews = mooring_core::clock::parse(sub.renews_at.as_deref().unwrap()).unwrap();
        let days = (renews - OffsetDateTime::now_utc()).whole_days();
        assert!((27..=31).contains(&days), "renews in a month: {days}");
        assert_eq!(
            orders::get(&db, &admin(), &order.id).await.unwrap().status,
            "paid"
        );
        // Paying again is refused and changes nothing.
        let again = invoices::set_status(&db, &admin(), "op", &inv.id, "paid").await;
        assert!(matches!(again, Err(CoreError::Conflict(_))), "{again:?}");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM payments").await, 1);
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM jobs WHERE kind = 'service.provision'"
            )
            .await,
            1
        );

        // No provisioner for CloudPods in this build yet: the job says so.
        let w = Worker::new(
            db.clone(),
            Registry::new().register(subscriptions::PROVISION, ServiceJobs::new()),
        );
        while w.run_one().await.unwrap() {}
        let (js, _) = jobs::list(
            &db,
            &mooring_core::identity::Principal {
                user_id: "op".into(),
                tenant_id: DEFAULT_TENANT_ID.into(),
                role: mooring_core::identity::Role::Admin,
                platform_admin: false,
                scope: mooring_core::identity::Scope::Admin,
                via: mooring_core::identity::Via::Session,
            },
            &jobs::JobFilter::default(),
            page,
        )
        .await
        .unwrap();
        let job = js
            .iter()
            .find(|j| j.kind == subscriptions::PROVISION)
            .unwrap();
        assert_eq!(job.error_code.as_deref(), Some("provisioner_unavailable"));
        assert_eq!(job.target_id.as_deref(), Some(sub.id.as_str()));

        // Refund a paid invoice; other moves are refused.
        assert!(matches!(
            invoices::set_status(&db, &admin(), "op", &inv.id, "unpaid").await,
            Err(CoreError::Conflict(_))
        ));
        let refunded = invoices::set_status(&db, &admin(), "op", &inv.id, "refunded")
            .await
            .unwrap();
        assert_eq!(
            (refunded.status.as_str(), refunded.amount_refunded),
            ("refunded", 1155)
        );
    }
);

db_test!(
    async fn invoice_numbers_have_no_gaps_under_concurrent_orders(db: Db) {
        let s = shop(&db).await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let db = db.clone();
            // Every third order carries a coupon that does not exist: refused, it takes no number.
            let coupon = (i % 3 == 0).then_some("NOPE");
            let input = order_of(&s, coupon);
            tasks.push(tokio::spawn(async move {
                orders::create(&db, &admin(), "op", input).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(CoreError::Field { field, .. }) => assert_eq!(field, "couponCode"),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 8);
        let numbers: Vec<i64> = sqlx::query_scalar("SELECT number FROM invoices ORDER BY number")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(numbers, (1..=8).collect::<Vec<i64>>());
    }
);

db_test!(
    async fn coupons_limits_and_bad_orders_are_refused_clearly(db: Db) {
        let s = shop(&db).await;
        for _ in 0..3 {
            orders::create(&db, &admin(), "op", order_of(&s, Some("WELCOME10")))
                .await
                .unwrap();
        }
        let used_up = orders::create(&db, &admin(), "op", order_of(&s, Some("WELCOME10"))).await;
        assert!(
            matches!(&used_up, Err(CoreError::Field { field, message }) if field == "couponCode" && message.contains("used up")),
            "{used_up:?}"
        );
        let mut bad = order_of(&s, None);
        bad.items[0].billing_cycle = "weekly".into();
        assert!(
            matches!(orders::create(&db, &admin(), "op", bad).await, Err(CoreError::Field { field, .. }) if field == "items[0].billingCycle")
        );
        let mut bad = order_of(&s, None);
        bad.items[0].billing_cycle = "quarterly".into();
        let e = orders::create(&db, &admin(), "op", bad).await.unwrap_err();
        assert!(e.to_string().contains("not sold"), "{e}");
        let mut bad = order_of(&s, None);
        bad.items[0].product_id = s.backup.clone();
        assert!(orders::create(&db, &admin(), "op", bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("add-on"));
        let mut bad = order_of(&s, None);
        bad.items[0].quantity = Some(0);
        assert!(
            matches!(orders::create(&db, &admin(), "op", bad).await, Err(CoreError::Field { field, .. }) if field == "items[0].quantity")
        );
        let mut bad = order_of(&s, None);
        bad.customer_id = None;
        assert!(
            matches!(orders::create(&db, &admin(), "op", bad).await, Err(CoreError::Field { field, .. }) if field == "customerId")
        );
        // Prices with more decimals than the currency has are refused, not rounded.
        let e = products::create(
            &db,
            &admin(),
            "op",
            ProductInput {
                name: Some("X".into()),
                kind: Some("cloudpod".into()),
                sku: Some("X".into()),
                billing_cycles: Some(vec![price("monthly", "9.999")]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, CoreError::Field { field, .. } if field == "billingCycles[0].price"),
            "{e:?}"
        );
        // Staff may not change the catalog; customers never.
        let staff = Viewer::Operator {
            tenant: DEFAULT_TENANT_ID.into(),
            admin: false,
        };
        assert!(matches!(
            products::delete(&db, &staff, "op", &s.pod).await,
            Err(CoreError::Forbidden(_))
        ));
        // A product with live subscriptions cannot be deleted.
        let (_, inv) = orders::create(&db, &admin(), "op", order_of(&s, None))
            .await
            .unwrap();
        invoices::set_status(&db, &admin(), "op", &inv.id, "paid")
            .await
            .unwrap();
        assert!(matches!(
            products::delete(&db, &admin(), "op", &s.pod).await,
            Err(CoreError::Conflict(_))
        ));
    }
);

db_test!(
    async fn a_customer_sees_only_its_own_billing(db: Db) {
        let s = shop(&db).await;
        let (_, mine) = orders::create(&db, &admin(), "op", order_of(&s, None))
            .await
            .unwrap();
        let other = customers::create(
            &db,
            &admin(),
            "op",
            CustomerInput {
                name: Some("Other".into()),
                email: Some("other@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut theirs_order = order_of(&s, None);
        theirs_order.customer_id = Some(other.id.clone());
        let (_, theirs) = orders::create(&db, &admin(), "op", theirs_order)
            .await
            .unwrap();
        // No address: no tax.
        assert_eq!(theirs.tax, 0);
        let me = Viewer::Customer {
            tenant: DEFAULT_TENANT_ID.into(),
            customer: mooring_core::billing::CustomerId::new(s.customer.clone()).unwrap(),
        };
        let page = PageQuery::default().check().unwrap();
        let (list, total) = invoices::list(&db, &me, None, None, page).await.unwrap();
        assert_eq!((total, list[0].id.clone()), (1, mine.id.clone()));
        let (none, total) = invoices::list(&db, &me, Some(&other.id), None, page)
            .await
            .unwrap();
        assert_eq!((none.len(), total), (0, 0));
        assert!(matches!(
            invoices::get(&db, &me, &theirs.id).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            customers::get(&db, &me, &other.id).await,
            Err(CoreError::NotFound)
        ));
        let (cs, n) = customers::list(&db, &me, None, page).await.unwrap();
        assert_eq!((n, cs[0].id.clone()), (1, s.customer.clone()));
        assert!(matches!(
            invoices::set_status(&db, &me, "me", &mine.id, "paid").await,
            Err(CoreError::Forbidden(_))
        ));
        let mut order = order_of(&s, None);
        order.customer_id = Some(other.id.clone());
        assert!(matches!(
            orders::create(&db, &me, "me", order).await,
            Err(CoreError::Forbidden(_))
        ));
        let mut order = order_of(&s, None);
        order.customer_id = None;
        let (o, _) = orders::create(&db, &me, "me", order).await.unwrap();
        assert_eq!(o.customer_id, s.customer);
        // Customers may edit their details, not their status.
        let e = customers::update(
            &db,
            &me,
            "me",
            &s.customer,
            CustomerInput {
                status: Some("active".into()),
                ..Default::default()
            },
        )
        .await;
        assert!(matches!(e, Err(CoreError::Forbidden(_))));
        let c = customers::update(
            &db,
            &me,
            "me",
            &s.customer,
            CustomerInput {
                phone: Some(Some("+1 555".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(c.phone.as_deref(), Some("+1 555"));
    }
);

db_test!(
    async fn renewals_dunning_and_payment_bring_the_service_back(db: Db) {
        let s = shop(&db).await;
        let (_, inv) = orders::create(&db, &admin(), "op", order_of(&s, Some("WELCOME10")))
            .await
            .unwrap();
        invoices::set_status(&db, &admin(), "op", &inv.id, "paid")
            .await
            .unwrap();
        let page = PageQuery::default().check().unwrap();
        let (subs, _) = subscriptions::list(&db, &admin(), &SubscriptionFilter::default(), page)
            .await
            .unwrap();
        let sub = subs[0].clone();
        let renews = mooring_core::clock::parse(sub.renews_at.as_deref().unwrap()).unwrap();
        let policy = Policy::default();

        // Too early: nothing. A week before: the renewal invoice, once.
        assert_eq!(
            lifecycle::sweep(&db, policy, renews - Duration::days(10))
                .await
                .unwrap()
                .invoiced,
            0
        );
        assert_eq!(
            lifecycle::sweep(&db, policy, renews - Duration::days(6))
                .await
                .unwrap()
                .invoiced,
            1
        );
        assert_eq!(
            lifecycle::sweep(&db, policy, renews - Duration::days(5))
                .await
                .unwrap()
                .invoiced,
            0
        );
        let (renewals, _) = invoices::list(&db, &admin(), None, Some("unpaid"), page)
            .await
            .unwrap();
        assert_eq!(renewals.len(), 1);
        let renewal = &renewals[0];
        assert_eq!(renewal.subscription_id.as_deref(), Some(sub.id.as_str()));
        // The once-only coupon does not discount the renewal; tax still applies.
        assert_eq!(
            (renewal.subtotal, renewal.discount, renewal.tax),
            (1199, 0, 84)
        );
        assert_eq!(renewal.number, 2);

        // Unpaid: past due the day after, suspended after three days.
        let r = lifecycle::sweep(&db, policy, renews + Duration::days(1))
            .await
            .unwrap();
        assert_eq!(r.past_due, 1);
        assert_eq!(
            subscriptions::get(&db, &admin(), &sub.id)
                .await
                .unwrap()
                .status,
            "past_due"
        );
        let r = lifecycle::sweep(&db, policy, renews + Duration::days(4))
            .await
            .unwrap();
        assert_eq!(r.suspended, 1);
        assert_eq!(
            subscriptions::get(&db, &admin(), &sub.id)
                .await
                .unwrap()
                .status,
            "suspended"
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM jobs WHERE kind = 'service.suspend'"
            )
            .await,
            1
        );
        assert_eq!(
            lifecycle::sweep(&db, policy, renews + Duration::days(5))
                .await
                .unwrap(),
            Default::default()
        );

        // Paying unsuspends and moves the period on.
        invoices::set_status(&db, &admin(), "op", &renewal.id, "paid")
            .await
            .unwrap();
        let back = subscriptions::get(&db, &admin(), &sub.id).await.unwrap();
        assert_eq!(back.status, "active");
        assert_eq!(back.periods_paid, 2);
        assert_eq!(back.renews_at, renewal.period_end);
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM jobs WHERE kind = 'service.unsuspend'"
            )
            .await,
            1
        );
        assert!(
            count(
                &db,
                "SELECT COUNT(*) FROM system_events WHERE kind = 'subscription.suspended'"
            )
            .await
                >= 1
        );

        // Cancel at period end: runs until then, then ends and terminates.
        let c = subscriptions::cancel(&db, &admin(), "op", &sub.id, true)
            .await
            .unwrap();
        assert!(c.cancel_at_period_end);
        assert_eq!(c.status, "active");
        let end = mooring_core::clock::parse(back.renews_at.as_deref().unwrap()).unwrap();
        assert_eq!(
            lifecycle::sweep(&db, policy, end - Duration::days(6))
                .await
                .unwrap()
                .invoiced,
            0,
            "no renewal for a cancelled subscription"
        );
        assert_eq!(
            lifecycle::sweep(&db, policy, end + Duration::hours(1))
                .await
                .unwrap()
                .ended,
            1
        );
        assert_eq!(
            subscriptions::get(&db, &admin(), &sub.id)
                .await
                .unwrap()
                .status,
            "cancelled"
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM jobs WHERE kind = 'service.terminate'"
            )
            .await,
            1
        );
        assert!(matches!(
            subscriptions::cancel(&db, &admin(), "op", &sub.id, false).await,
            Err(CoreError::Conflict(_))
        ));
    }
);

db_test!(
    async fn unpaid_for_a_month_terminates(db: Db) {
        let s = shop(&db).await;
        let (_, inv) = orders::create(&db, &admin(), "op", order_of(&s, None))
            .await
            .unwrap();
        invoices::set_status(&db, &admin(), "op", &inv.id, "paid")
            .await
            .unwrap();
        let page = PageQuery::default().check().unwrap();
        let (subs, _) = subscriptions::list(&db, &admin(), &SubscriptionFilter::default(), page)
            .await
            .unwrap();
        let renews = mooring_core::clock::parse(subs[0].renews_at.as_deref().unwrap()).unwrap();
        let policy = Policy::default();
        lifecycle::sweep(&db, policy, renews - Duration::days(1))
            .await
            .unwrap();
        let r = lifecycle::sweep(&db, policy, renews + Duration::days(31))
            .await
            .unwrap();
        assert_eq!(r.terminated, 1);
        assert_eq!(
            subscriptions::get(&db, &admin(), &subs[0].id)
                .await
                .unwrap()
                .status,
            "terminated"
        );
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM invoices WHERE status = 'unpaid'").await,
            0,
            "its open invoice is void"
        );
    }
);

db_test!(
    async fn plan_changes_prorate_by_day_with_tax_and_credit(db: Db) {
        let s = shop(&db).await;
        let pro = products::create(
            &db,
            &admin(),
            "op",
            ProductInput {
                name: Some("CloudPod Pro".into()),
                kind: Some("cloudpod".into()),
                sku: Some("CPOD-PRO".into()),
                billing_cycles: Some(vec![price("monthly", "19.99")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut order = order_of(&s, None);
        order.items[0].addons.clear();
        let (_, inv) = orders::create(&db, &admin(), "op", order).await.unwrap();
        invoices::set_status(&db, &admin(), "op", &inv.id, "paid")
            .await
            .unwrap();
        let page = PageQuery::default().check().unwrap();
        let (subs, _) = subscriptions::list(&db, &admin(), &SubscriptionFilter::default(), page)
            .await
            .unwrap();
        let sub = subs[0].id.clone();
        // A 30-day period: April.
        sqlx::query("UPDATE subscriptions SET period_start = '2026-04-01T00:00:00.000Z', renews_at = '2026-05-01T00:00:00.000Z' WHERE id = $1")
            .bind(&sub)
            .execute(db.pool())
            .await
            .unwrap();
        let mid = time::macros::datetime!(2026-04-16 00:00 UTC);

        // Up, halfway: 5.00 back (+7 % tax it carried: 5.35), 10.00 + 0.70 for the rest.
        let (changed, up) = subscriptions::change_plan_at(&db, &admin(), "op", &sub, &pro.id, mid)
            .await
            .unwrap();
        assert_eq!(
            (changed.product_id.as_str(), changed.unit_price),
            (pro.id.as_str(), 1999)
        );
        assert_eq!(
            (
                up.subtotal,
                up.tax,
                up.total,
                up.credit_applied,
                up.amount_due
            ),
            (1000, 70, 1070, 535, 535)
        );
        assert_eq!(up.status, "unpaid");
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM jobs WHERE kind = 'service.change'"
            )
            .await,
            1
        );

        // Down again the same day: 10.70 back, 5.35 due, paid from that credit; 5.35 stays as credit.
        let (_, down) = subscriptions::change_plan_at(&db, &admin(), "op", &sub, &s.pod, mid)
            .await
            .unwrap();
        assert_eq!(
            (
                down.total,
                down.credit_applied,
                down.amount_due,
                down.status.as_str()
            ),
            (535, 535, 0, "paid")
        );
        let left: i64 = sqlx::query_scalar(
            "SELECT CAST(SUM(amount) AS BIGINT) FROM credit_entries WHERE customer_id = $1",
        )
        .bind(&s.customer)
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(left, 535, "no cent lost or created");

        // What cannot be changed is refused clearly.
        let e = subscriptions::change_plan_at(&db, &admin(), "op", &sub, &s.backup, mid)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::Field { field, .. } if field == "productId"),
            "{e:?}"
        );
        let yearly = products::create(
            &db,
            &admin(),
            "op",
            ProductInput {
                name: Some("Yearly only".into()),
                kind: Some("cloudpod".into()),
                sku: Some("Y".into()),
                billing_cycles: Some(vec![price("yearly", "100")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let e = subscriptions::change_plan_at(&db, &admin(), "op", &sub, &yearly.id, mid)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("change the cycle at renewal"), "{e}");
        subscriptions::cancel(&db, &admin(), "op", &sub, false)
            .await
            .unwrap();
        assert!(matches!(
            subscriptions::change_plan_at(&db, &admin(), "op", &sub, &pro.id, mid).await,
            Err(CoreError::Conflict(_))
        ));
    }
);
