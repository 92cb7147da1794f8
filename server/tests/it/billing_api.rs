//! The mpanel billing endpoints on a real server, both backends: catalog,
//! customers, an order with a coupon and tax, its invoice, manual payment
//! activating the subscription, cancel, and what a customer login may do.

use crate::common::{call, TestServer};
use mooring_core::{
    billing::{
        coupons::{self, CouponInput},
        customers,
        tax::{self, TaxRateInput},
        Viewer,
    },
    testkit, users, DEFAULT_TENANT_ID,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

fn field(b: &Value) -> String {
    b["error"]["details"]["fields"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn billing_api(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    use Method as M;

    // Catalog.
    let (st, pod) = call(
        &s,
        M::POST,
        "/api/products",
        &jwt,
        Some(json!({
            "name": "CloudPod Mini", "type": "cloudpod", "sku": "CPOD-MINI",
            "billingCycles": [{ "cycle": "monthly", "price": 9.99, "currency": "USD" },
                              { "cycle": "yearly", "price": 99.0, "currency": "USD" }],
            "metadata": { "cpu": 2, "ramMb": 2048, "diskGb": 40 }
        })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{pod}");
    assert_eq!(
        pod["billingCycles"][0],
        json!({ "cycle": "monthly", "price": 9.99, "currency": "USD" })
    );
    assert_eq!(pod["status"], "active");
    let pod_id = pod["id"].as_str().unwrap().to_string();
    let (st, addon) = call(
        &s,
        M::POST,
        "/api/products",
        &jwt,
        Some(json!({
            "name": "Backups", "type": "addon", "sku": "ADD-BK",
            "billingCycles": [{ "cycle": "monthly", "price": 2, "currency": "USD" }]
        })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, b) = call(
        &s,
        M::POST,
        "/api/products",
        &jwt,
        Some(json!({
            "name": "Dup", "type": "cloudpod", "sku": "CPOD-MINI",
            "billingCycles": [{ "cycle": "monthly", "price": 1, "currency": "USD" }]
        })),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    let (st, b) = call(
        &s,
        M::POST,
        "/api/products",
        &jwt,
        Some(json!({
            "name": "Bad", "type": "cloudpod", "sku": "BAD",
            "billingCycles": [{ "cycle": "monthly", "price": 1.005, "currency": "USD" }]
        })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "billingCycles[0].price".into()
        ),
        "{b}"
    );
    let (st, b) = call(
        &s,
        M::POST,
        "/api/products",
        &jwt,
        Some(json!({ "name": "Bad", "type": "yacht", "sku": "Y", "billingCycles": [] })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "type".into()),
        "{b}"
    );
    let (_, plans) = call(&s, M::GET, "/api/billing/plans", &jwt, None).await;
    assert_eq!(
        (plans["total"].clone(), plans["items"][0]["sku"].clone()),
        (json!(1), json!("CPOD-MINI"))
    );
    let (_, addons) = call(&s, M::GET, "/api/billing/addons", &jwt, None).await;
    assert_eq!(
        (addons["total"].clone(), addons["items"][0]["type"].clone()),
        (json!(1), json!("addon"))
    );
    let (_, list) = call(&s, M::GET, "/api/products?type=addon", &jwt, None).await;
    assert_eq!(list["total"], 1);
    let (st, _) = call(&s, M::GET, "/api/products?type=yacht", &jwt, None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, upd) = call(
        &s,
        M::PUT,
        &format!("/api/products/{pod_id}"),
        &jwt,
        Some(json!({ "name": "CloudPod S" })),
    )
    .await;
    assert_eq!(
        (st, upd["name"].clone(), upd["sku"].clone()),
        (StatusCode::OK, json!("CloudPod S"), json!("CPOD-MINI"))
    );

    // Customers.
    let (st, cust) = call(&s, M::POST, "/api/customers", &jwt, Some(json!({
        "name": "John Doe", "email": "john@example.com", "phone": "+1-555-1234",
        "address": { "line1": "123 Main St", "city": "Miami", "state": "FL", "postalCode": "33101", "country": "US" }
    }))).await;
    assert_eq!(st, StatusCode::CREATED, "{cust}");
    assert_eq!(cust["address"]["postalCode"], "33101");
    assert_eq!(cust["status"], "active");
    let cust_id = cust["id"].as_str().unwrap().to_string();
    let (st, b) = call(
        &s,
        M::POST,
        "/api/customers",
        &jwt,
        Some(json!({ "name": "X", "email": "not-an-email" })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "email".into())
    );
    let (st, b) = call(&s, M::POST, "/api/customers", &jwt, Some(json!({ "name": "X", "email": "x@example.com", "address": { "line1": "a", "city": "b", "country": "usa" } }))).await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "address.country".into())
    );
    let (_, found) = call(&s, M::GET, "/api/customers?search=JOHN", &jwt, None).await;
    assert_eq!(found["total"], 1);
    let (_, none) = call(&s, M::GET, "/api/customers?search=zed", &jwt, None).await;
    assert_eq!(none["total"], 0);

    // Tax and a coupon (admin UI/API for these comes with the billing pages).
    let admin = Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    };
    tax::create(
        &db,
        &admin,
        "op",
        TaxRateInput {
            name: "FL".into(),
            country: "US".into(),
            region: Some("FL".into()),
            rate: "7".into(),
            valid_from: Some("2020-01-01".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    coupons::create(
        &db,
        &admin,
        "op",
        CouponInput {
            code: "WELCOME10".into(),
            kind: "percent".into(),
            percent: Some("10".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Order → 201 with order + invoice summary.
    let order_body = json!({
        "customerId": cust_id,
        "items": [{ "productId": pod_id, "billingCycle": "monthly", "quantity": 1,
                    "addons": [{ "productId": addon["id"], "quantity": 1 }] }],
        "couponCode": "WELCOME10"
    });
    let (st, created) = call(&s, M::POST, "/api/orders", &jwt, Some(order_body.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["order"]["status"], "pending");
    assert_eq!(created["order"]["total"], json!(11.55));
    assert_eq!(created["order"]["currency"], "USD");
    assert_eq!(created["invoice"]["status"], "unpaid");
    assert_eq!(created["invoice"]["amount"], json!(11.55));
    let order_id = created["order"]["id"].as_str().unwrap().to_string();
    let inv_id = created["invoice"]["id"].as_str().unwrap().to_string();
    let (_, order) = call(&s, M::GET, &format!("/api/orders/{order_id}"), &jwt, None).await;
    assert_eq!(
        order["items"][0]["addons"][0]["total"],
        json!(1.93),
        "{order}"
    ); // 2.00 − 0.20 + 7 % tax
    assert_eq!(order["invoiceId"], json!(inv_id));
    let (_, inv) = call(&s, M::GET, &format!("/api/invoices/{inv_id}"), &jwt, None).await;
    assert_eq!(
        (
            inv["subtotal"].clone(),
            inv["tax"].clone(),
            inv["total"].clone()
        ),
        (json!(11.99), json!(0.76), json!(11.55))
    );
    assert_eq!(inv["items"].as_array().unwrap().len(), 2);
    assert_eq!(inv["billTo"]["address"]["city"], "Miami");
    let (st, b) = call(
        &s,
        M::POST,
        "/api/orders",
        &jwt,
        Some(json!({ "customerId": cust_id, "items": [] })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "items".into()),
        "{b}"
    );
    let (st, b) = call(&s, M::POST, "/api/orders", &jwt, Some(json!({ "customerId": cust_id, "items": [{ "productId": pod_id, "billingCycle": "monthly" }], "couponCode": "NOPE" }))).await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "couponCode".into())
    );
    let (st, _) = call(
        &s,
        M::POST,
        "/api/orders",
        &jwt,
        Some(json!({ "items": "x" })),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Pay by checkout session (manual provider without Stripe).
    let (st, sess) = call(&s, M::POST, "/api/payments/session", &jwt, Some(json!({
        "invoiceId": inv_id, "successUrl": "https://shop.example/ok", "cancelUrl": "https://shop.example/no"
    }))).await;
    assert_eq!(st, StatusCode::OK, "{sess}");
    assert_eq!(sess["provider"], "manual");
    assert!(sess["checkoutUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/portal/invoices/{inv_id}")));
    let (st, b) = call(&s, M::POST, "/api/payments/session", &jwt, Some(json!({ "invoiceId": inv_id, "successUrl": "javascript:x", "cancelUrl": "https://a.b" }))).await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "successUrl".into())
    );

    // Mark paid → subscription active; illegal transitions answer 409.
    let (st, paid) = call(
        &s,
        M::PATCH,
        &format!("/api/invoices/{inv_id}/status"),
        &jwt,
        Some(json!({ "status": "paid" })),
    )
    .await;
    assert_eq!(
        (st, paid["status"].clone()),
        (StatusCode::OK, json!("paid")),
        "{paid}"
    );
    let (st, _) = call(
        &s,
        M::PATCH,
        &format!("/api/invoices/{inv_id}/status"),
        &jwt,
        Some(json!({ "status": "unpaid" })),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, b) = call(
        &s,
        M::PATCH,
        &format!("/api/invoices/{inv_id}/status"),
        &jwt,
        Some(json!({ "status": "lost" })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "status".into())
    );
    let (st, _) = call(
        &s,
        M::POST,
        "/api/payments/session",
        &jwt,
        Some(
            json!({ "invoiceId": inv_id, "successUrl": "https://a.b", "cancelUrl": "https://a.b" }),
        ),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "a paid invoice has nothing to pay"
    );
    let (_, subs) = call(
        &s,
        M::GET,
        &format!("/api/subscriptions?customerId={cust_id}&status=active&productType=cloudpod"),
        &jwt,
        None,
    )
    .await;
    assert_eq!(subs["total"], 1, "{subs}");
    let sub = subs["items"][0].clone();
    assert_eq!(
        (sub["billingCycle"].clone(), sub["productId"].clone()),
        (json!("monthly"), json!(pod_id))
    );
    assert!(sub["startsAt"].is_string() && sub["renewsAt"].is_string());
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let (_, jobs) = call(
        &s,
        M::GET,
        &format!("/api/jobs?type=service.provision&targetId={sub_id}"),
        &jwt,
        None,
    )
    .await;
    assert_eq!(jobs["total"], 1, "{jobs}");
    let (st, _) = call(
        &s,
        M::DELETE,
        &format!("/api/products/{pod_id}"),
        &jwt,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "in use");

    // A customer's own login.
    customers::create_login(
        &db,
        &admin,
        "op",
        &cust_id,
        SecretString::from("customer portal password"),
    )
    .await
    .unwrap();
    let cjwt = s.jwt("john@example.com", "customer portal password").await;
    let (_, mine) = call(&s, M::GET, "/api/invoices", &cjwt, None).await;
    assert_eq!(mine["total"], 1);
    let (_, cs) = call(&s, M::GET, "/api/customers", &cjwt, None).await;
    assert_eq!(cs["total"], 1);
    let (st, _) = call(
        &s,
        M::POST,
        "/api/customers",
        &cjwt,
        Some(json!({ "name": "Me2", "email": "me2@example.com" })),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(
        &s,
        M::PATCH,
        &format!("/api/invoices/{inv_id}/status"),
        &cjwt,
        Some(json!({ "status": "refunded" })),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(&s, M::POST, "/api/products", &cjwt, Some(json!({ "name": "X", "type": "addon", "sku": "X", "billingCycles": [{ "cycle": "monthly", "price": 1, "currency": "USD" }] }))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let mut mine_order = order_body.clone();
    mine_order.as_object_mut().unwrap().remove("customerId");
    mine_order.as_object_mut().unwrap().remove("couponCode");
    let (st, o) = call(&s, M::POST, "/api/orders", &cjwt, Some(mine_order)).await;
    assert_eq!(
        (st, o["order"]["customerId"].clone()),
        (StatusCode::CREATED, json!(cust_id)),
        "{o}"
    );
    // Change plan (documented extension): to a product not sold monthly → 422; to a bigger one → prorated invoice.
    let (st, b) = call(
        &s,
        M::POST,
        &format!("/api/subscriptions/{sub_id}/change"),
        &cjwt,
        Some(json!({ "productId": addon["id"] })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "productId".into()),
        "{b}"
    );
    let (_, big) = call(
        &s,
        M::POST,
        "/api/products",
        &jwt,
        Some(json!({
            "name": "CloudPod L", "type": "cloudpod", "sku": "CPOD-L",
            "billingCycles": [{ "cycle": "monthly", "price": 29.99, "currency": "USD" }]
        })),
    )
    .await;
    let (st, ch) = call(
        &s,
        M::POST,
        &format!("/api/subscriptions/{sub_id}/change"),
        &cjwt,
        Some(json!({ "productId": big["id"] })),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{ch}");
    assert_eq!(ch["subscription"]["productId"], big["id"]);
    assert!(ch["invoice"]["amount"].as_f64().unwrap() > 0.0, "{ch}");
    // Cancel at period end (default), by the customer.
    let (st, c) = call(
        &s,
        M::POST,
        &format!("/api/subscriptions/{sub_id}/cancel"),
        &cjwt,
        None,
    )
    .await;
    assert_eq!(
        (st, c["cancelAtPeriodEnd"].clone(), c["status"].clone()),
        (StatusCode::OK, json!(true), json!("active")),
        "{c}"
    );
    // Cancel now, by an operator.
    let (st, c) = call(
        &s,
        M::POST,
        &format!("/api/subscriptions/{sub_id}/cancel"),
        &jwt,
        Some(json!({ "cancelAtPeriodEnd": false })),
    )
    .await;
    assert_eq!(
        (st, c["status"].clone()),
        (StatusCode::OK, json!("cancelled"))
    );
    let (st, _) = call(
        &s,
        M::POST,
        &format!("/api/subscriptions/{sub_id}/cancel"),
        &jwt,
        Some(json!({ "cancelAtPeriodEnd": false })),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    // The audit trail saw it all.
    let (_, audit) = call(&s, M::GET, "/api/audit?type=invoice.", &jwt, None).await;
    assert_eq!(audit["total"], 1);

    // Orders: operators see the tenant's, a customer its own.
    let (st, all) = call(&s, M::GET, "/api/orders", &jwt, None).await;
    assert_eq!(st, StatusCode::OK, "{all}");
    let (_, own) = call(&s, M::GET, "/api/orders", &cjwt, None).await;
    assert_eq!(all["total"], own["total"], "John placed every order so far");
    assert!(own["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["customerName"] == "John Doe"));
    assert!(all["items"][0]["invoiceNumber"]
        .as_str()
        .unwrap()
        .starts_with("INV-"));
    let (st, _) = call(&s, M::GET, "/api/orders?status=lost", &jwt, None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // The billing profile: defaults to the tenant's name; admins set it;
    // new invoices carry it, issued ones keep theirs.
    let (st, prof) = call(&s, M::GET, "/api/billing/profile", &jwt, None).await;
    assert_eq!(
        (st, prof["legalName"].clone()),
        (StatusCode::OK, json!("Default"))
    );
    let (st, _) = call(&s, M::GET, "/api/billing/profile", &cjwt, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "customers do not read it");
    let harbour = json!({
        "legalName": "Harbour Hosting Lda", "taxId": "PT509999999", "email": "Billing@Harbour.test",
        "address": { "line1": "Rua do Cais 1", "city": "Porto", "postalCode": "4000-001", "country": "PT" },
    });
    let (st, _) = call(
        &s,
        M::PUT,
        "/api/billing/profile",
        &cjwt,
        Some(harbour.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, b) = call(
        &s,
        M::PUT,
        "/api/billing/profile",
        &jwt,
        Some(json!({ "legalName": "X", "address": { "line1": "a", "city": "b", "country": "Portugal" } })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "address.country".into())
    );
    let (st, b) = call(
        &s,
        M::PUT,
        "/api/billing/profile",
        &jwt,
        Some(json!({ "legalName": "X", "bank": "y" })),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields refused: {b}"
    );
    let (st, prof) = call(&s, M::PUT, "/api/billing/profile", &jwt, Some(harbour)).await;
    assert_eq!(st, StatusCode::OK, "{prof}");
    assert_eq!(prof["email"], "billing@harbour.test");
    let (_, mary) = call(
        &s,
        M::POST,
        "/api/customers",
        &jwt,
        Some(json!({ "name": "Mary", "email": "mary@example.com" })),
    )
    .await;
    let (_, before) = call(&s, M::GET, "/api/invoices", &jwt, None).await;
    let old = before["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        old["billFrom"]["legalName"], "Default",
        "issued invoices keep their seller"
    );
    let (st, o) = call(
        &s,
        M::POST,
        "/api/orders",
        &jwt,
        Some(json!({ "customerId": mary["id"], "items": [{ "productId": big["id"], "billingCycle": "monthly" }] })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{o}");
    let (_, all_now) = call(&s, M::GET, "/api/orders", &jwt, None).await;
    let (_, own_now) = call(&s, M::GET, "/api/orders", &cjwt, None).await;
    assert_eq!(
        all_now["total"].as_i64(),
        all["total"].as_i64().map(|n| n + 1)
    );
    assert_eq!(
        own_now["total"], own["total"],
        "John does not see Mary's order"
    );
    assert_eq!(all_now["items"][0]["customerName"], "Mary");
    let (_, fresh) = call(
        &s,
        M::GET,
        &format!("/api/invoices/{}", o["invoice"]["id"].as_str().unwrap()),
        &jwt,
        None,
    )
    .await;
    assert_eq!(fresh["billFrom"]["legalName"], "Harbour Hosting Lda");
    assert_eq!(fresh["billFrom"]["address"]["city"], "Porto");
    assert_eq!(fresh["billFrom"]["taxId"], "PT509999999");
    let (_, audit) = call(
        &s,
        M::GET,
        "/api/audit?type=billing.profile_updated",
        &jwt,
        None,
    )
    .await;
    assert_eq!(audit["total"], 1);
    s.stop().await;
}

mooring_core::on_both_backends!(billing_api);
