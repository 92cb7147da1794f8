//! The billing forms of both portals (post/redirect/get): core authorizes;
//! errors come back next to their field.

use axum::{
    body::Bytes,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use mooring_core::{
    billing::{
        self,
        customers::{self, Address, CustomerInput},
        invoices,
        orders::{self, AddonInput, ItemInput, OrderInput},
        payments,
        products::{self, PriceInput, ProductInput},
        subscriptions,
    },
    CoreError,
};
use secrecy::SecretString;
use tower_sessions::Session;

use super::admin_forms::{back, back_field, field, form, opt, say, PortalCaller};
use crate::state::AppState;

/// The field a core error names, for showing it next to that field.
/// The form input an error is about (forms show a product's settings,
/// `metadata.cpu`, as their own inputs, `cpu`).
fn error_field(e: &CoreError) -> Option<String> {
    e.field()
        .map(|f| f.strip_prefix("metadata.").unwrap_or(f).to_string())
}

pub(super) async fn back_err(session: &Session, to: &str, e: CoreError) -> Response {
    let f = error_field(&e);
    back_field(session, to, Err(say(e)), None, f.as_deref()).await
}

/// [`back_err`], keeping what `form` said (but its `secret_fields`) so the
/// page fills the form in again.
pub(super) async fn back_err_refill(
    session: &Session,
    to: &str,
    e: CoreError,
    form: &[(String, String)],
    secret_fields: &[&str],
) -> Response {
    let f = error_field(&e);
    super::admin_forms::back_refill(session, to, say(e), f.as_deref(), form, secret_fields).await
}

/// Back to `to`: with `ok`'s message when `result` is one, else with the
/// error (beside its field).
pub(super) async fn outcome<T>(
    session: &Session,
    to: &str,
    result: Result<T, CoreError>,
    ok: impl FnOnce(T) -> String,
) -> Response {
    match result {
        Ok(v) => back(session, to, Ok(ok(v)), None).await,
        Err(e) => back_err(session, to, e).await,
    }
}

/// `POST /admin/customers`.
pub async fn create_customer(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let address = address_of(&f);
    let input = CustomerInput {
        name: Some(field(&f, "name")),
        email: Some(field(&f, "email")),
        phone: Some(opt(&f, "phone")),
        address: Some(address),
        tax_id: Some(opt(&f, "taxId")),
        status: None,
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        customers::create(&state.db, &v, &p.user_id, input).await
    }
    .await;
    match result {
        Ok(c) => {
            back(
                &session,
                &format!("/admin/customers/{}", c.id),
                Ok(format!("Added {}.", c.name)),
                None,
            )
            .await
        }
        Err(e) => back_err_refill(&session, "/admin/customers", e, &f, &[]).await,
    }
}

/// `POST /admin/customers/{id}/login`.
pub async fn customer_login(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let to = format!("/admin/customers/{id}");
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        customers::create_login(
            &state.db,
            &v,
            &p.user_id,
            &id,
            SecretString::from(field(&f, "password")),
        )
        .await
    }
    .await;
    outcome(&session, &to, result, |_| {
        "The customer can sign in now.".into()
    })
    .await
}

/// `POST /admin/products`: one price per filled-in cycle.
pub async fn create_product(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let prices = match prices_of(&f) {
        Ok(p) => p,
        Err(e) => {
            return back_field(
                &session,
                "/admin/products",
                Err(e),
                None,
                Some("billingCycles[0].price"),
            )
            .await
        }
    };
    let input = ProductInput {
        name: Some(field(&f, "name")),
        kind: Some(field(&f, "type")),
        sku: Some(field(&f, "sku")),
        billing_cycles: Some(prices),
        metadata: None,
        status: None,
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        products::create(&state.db, &v, &p.user_id, input).await
    }
    .await;
    outcome(&session, "/admin/products", result, |prod| {
        format!("Added {}.", prod.name)
    })
    .await
}

/// The prices of a product form: one field per cycle (`monthly`,
/// `yearly`…) in the form's `currency`; empty fields are not sold.
fn prices_of(f: &[(String, String)]) -> Result<Vec<PriceInput>, String> {
    let currency = field(f, "currency").trim().to_uppercase();
    let mut prices = Vec::new();
    for cycle in billing::pricing::CYCLES {
        if let Some(v) = opt(f, cycle) {
            let price = v
                .parse::<serde_json::Number>()
                .map_err(|_| format!("{v} is not a price (write 9.99)."))?;
            prices.push(PriceInput {
                cycle: cycle.into(),
                price,
                currency: currency.clone(),
            });
        }
    }
    Ok(prices)
}

/// `POST /admin/products/{id}`: name, SKU and prices.
pub async fn update_product(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let to = format!("/admin/products/{id}");
    let f = form(&body);
    let prices = match prices_of(&f) {
        Ok(p) => p,
        Err(e) => {
            return back_field(&session, &to, Err(e), None, Some("billingCycles[0].price")).await
        }
    };
    let currency = field(&f, "currency").trim().to_uppercase();
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        // The form edits one currency's prices; the others are kept.
        let current = products::get(&state.db, &v, &id).await?;
        let prices = products::with_other_currencies(&current, &currency, prices)?;
        let input = ProductInput {
            name: Some(field(&f, "name")),
            kind: None,
            sku: Some(field(&f, "sku")),
            billing_cycles: Some(prices),
            metadata: None,
            status: None,
        };
        products::update(&state.db, &v, &p.user_id, &id, input).await
    }
    .await;
    outcome(&session, &to, result, |prod| {
        format!("Saved {}.", prod.name)
    })
    .await
}

/// `POST /admin/products/{id}/size`: a CloudPod product's template, CPU,
/// memory and disk (its metadata); other metadata is kept.
pub async fn product_size(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let to = format!("/admin/products/{id}");
    let f = form(&body);
    let number = |name: &str| -> Result<Option<i64>, String> {
        match opt(&f, name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("{v} is not a whole number.")),
        }
    };
    let sizes = (number("cpu"), number("memoryMb"), number("diskGb"));
    let (cpu, memory, disk) = match sizes {
        (Ok(c), Ok(m), Ok(d)) => (c, m, d),
        (Err(e), _, _) => return back_field(&session, &to, Err(e), None, Some("cpu")).await,
        (_, Err(e), _) => return back_field(&session, &to, Err(e), None, Some("memoryMb")).await,
        (_, _, Err(e)) => return back_field(&session, &to, Err(e), None, Some("diskGb")).await,
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        let cur = products::get(&state.db, &v, &id).await?;
        let mut meta = cur.metadata.clone();
        if !meta.is_object() {
            meta = serde_json::json!({});
        }
        meta["template"] = field(&f, "template").into();
        for (k, val) in [("cpu", cpu), ("memoryMb", memory), ("diskGb", disk)] {
            meta[k] = val.map(Into::into).unwrap_or(serde_json::Value::Null);
        }
        meta["customerActions"] = f
            .iter()
            .filter(|(k, _)| k == "customerActions")
            .map(|(_, v)| serde_json::Value::from(v.clone()))
            .collect::<Vec<_>>()
            .into();
        let input = ProductInput {
            metadata: Some(meta),
            ..Default::default()
        };
        products::update(&state.db, &v, &p.user_id, &id, input).await
    }
    .await;
    outcome(&session, &to, result, |prod| {
        format!("Saved the size of {}.", prod.name)
    })
    .await
}

/// The address of a form, or none when its first line is empty.
fn address_of(f: &[(String, String)]) -> Option<Address> {
    opt(f, "line1").map(|line1| Address {
        line1,
        line2: opt(f, "line2"),
        city: field(f, "city").trim().into(),
        state: opt(f, "state"),
        postal_code: opt(f, "postalCode"),
        country: field(f, "country").trim().to_uppercase(),
    })
}

/// `POST /admin/customers/{id}`: the customer's details.
pub async fn update_customer(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let to = format!("/admin/customers/{id}");
    let f = form(&body);
    let input = CustomerInput {
        name: Some(field(&f, "name")),
        email: Some(field(&f, "email")),
        phone: Some(opt(&f, "phone")),
        address: Some(address_of(&f)),
        tax_id: Some(opt(&f, "taxId")),
        status: opt(&f, "status"),
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        customers::update(&state.db, &v, &p.user_id, &id, input).await
    }
    .await;
    outcome(&session, &to, result, |c| format!("Saved {}.", c.name)).await
}

/// `POST /admin/billing-profile`.
pub async fn update_billing_profile(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let to = "/admin/billing-profile";
    let f = form(&body);
    let input = billing::profile::ProfileInput {
        legal_name: opt(&f, "legalName"),
        address: address_of(&f),
        tax_id: opt(&f, "taxId"),
        email: opt(&f, "email"),
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        billing::profile::set(&state.db, &v, &p.user_id, input).await
    }
    .await;
    outcome(&session, to, result, |_| {
        "Saved. New invoices carry these details.".into()
    })
    .await
}

/// `POST /{admin|portal}/subscriptions/{id}/change`: move to another plan
/// now (prorated; the difference is invoiced or credited).
pub async fn change_plan(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let area = if p.is_operator() {
        "/admin/subscriptions"
    } else {
        "/portal/services"
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        subscriptions::change_plan(&state.db, &v, &p.user_id, &id, &field(&f, "productId")).await
    }
    .await;
    match result {
        Ok((sub, inv)) => {
            let (to, say) = if inv.status == "unpaid" {
                (
                    format!(
                        "{}/invoices/{}",
                        if p.is_operator() { "/admin" } else { "/portal" },
                        inv.id
                    ),
                    format!(
                        "{} from now on. Pay {} for the rest of this period.",
                        sub.product_name,
                        billing::money::with_code(inv.amount_due, &inv.currency)
                    ),
                )
            } else {
                (
                    area.to_string(),
                    format!(
                        "{} from now on; the difference is settled with your credit.",
                        sub.product_name
                    ),
                )
            };
            back(&session, &to, Ok(say), None).await
        }
        Err(e) => back_err(&session, area, e).await,
    }
}

/// `POST /admin/invoices/{id}/{paid|cancelled|refunded}`.
pub async fn invoice_status(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path((id, status)): Path<(String, String)>,
) -> Response {
    let to = format!("/admin/invoices/{id}");
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        if status == "refunded" {
            let stripe = state.config.stripe();
            invoices::refund(&state.db, &v, &p.user_id, &id, stripe.as_ref()).await
        } else {
            invoices::set_status(&state.db, &v, &p.user_id, &id, &status).await
        }
    }
    .await;
    outcome(&session, &to, result, |inv| {
        format!("{} is {} now.", inv.display_number(), inv.status)
    })
    .await
}

/// `POST /{admin|portal}/subscriptions/{id}/cancel`: at the end of the period.
pub async fn cancel_subscription(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let to = if p.is_operator() {
        "/admin/subscriptions"
    } else {
        "/portal/services"
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        subscriptions::cancel(&state.db, &v, &p.user_id, &id, true).await
    }
    .await;
    match result {
        Ok(s) => {
            let msg = match &s.renews_at {
                Some(r) if s.cancel_at_period_end => {
                    format!("{} ends on {}.", s.product_name, &r[..10])
                }
                _ => format!("{} is cancelled.", s.product_name),
            };
            back(&session, to, Ok(msg), None).await
        }
        Err(e) => back_err(&session, to, e).await,
    }
}

/// `POST /portal/orders`: one product, its chosen add-ons, a coupon.
pub async fn place_order(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let addons = f
        .iter()
        .filter(|(k, _)| k == "addon")
        .map(|(_, v)| AddonInput {
            product_id: v.clone(),
            quantity: None,
        })
        .collect();
    let input = OrderInput {
        customer_id: None,
        items: vec![ItemInput {
            product_id: field(&f, "productId"),
            billing_cycle: field(&f, "billingCycle"),
            quantity: None,
            addons,
        }],
        coupon_code: opt(&f, "couponCode"),
        currency: None,
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        orders::create(&state.db, &v, &p.user_id, input).await
    }
    .await;
    match result {
        Ok((_, inv)) => {
            let msg = if inv.status == "paid" {
                format!(
                    "Ordered. {} is paid; your service is being set up.",
                    inv.display_number()
                )
            } else {
                format!(
                    "Ordered. Pay {} to start your service.",
                    billing::money::with_code(inv.amount_due, &inv.currency)
                )
            };
            back(
                &session,
                &format!("/portal/invoices/{}", inv.id),
                Ok(msg),
                None,
            )
            .await
        }
        Err(e) => back_err(&session, "/portal/order", e).await,
    }
}

/// `POST /portal/invoices/{id}/pay`: off to Stripe's checkout page.
pub async fn pay_invoice(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let to = format!("/portal/invoices/{id}");
    let base = state.config.public_base();
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        payments::create_session(
            &state.db,
            &v,
            &id,
            &format!("{base}{to}?paid=1"),
            &format!("{base}{to}"),
            &base,
            state.config.stripe().as_ref(),
        )
        .await
    }
    .await;
    match result {
        Ok(s) if s.provider == "stripe" => Redirect::to(&s.checkout_url).into_response(),
        Ok(_) => {
            back(
                &session,
                &to,
                Ok("Pay by bank transfer as shown below.".into()),
                None,
            )
            .await
        }
        Err(e) => back_err(&session, &to, e).await,
    }
}

/// `POST /admin/coupons`.
pub async fn create_coupon(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let max = opt(&f, "maxRedemptions");
    let max_redemptions = match max.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return back_field(
                &session,
                "/admin/coupons",
                Err("Most uses must be a whole number.".into()),
                None,
                Some("maxRedemptions"),
            )
            .await
        }
    };
    let input = billing::coupons::CouponInput {
        code: field(&f, "code"),
        kind: field(&f, "kind"),
        percent: opt(&f, "percent"),
        amount: opt(&f, "amount"),
        currency: opt(&f, "currency").map(|c| c.to_uppercase()),
        duration: opt(&f, "duration"),
        product_ids: Vec::new(),
        expires_at: opt(&f, "expiresAt").map(|d| format!("{d}T23:59:59Z")),
        max_redemptions,
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        billing::coupons::create(&state.db, &v, &p.user_id, input).await
    }
    .await;
    outcome(&session, "/admin/coupons", result, |c| {
        format!("Added {} ({}).", c.code, c.describe())
    })
    .await
}

/// `POST /admin/coupons/{id}/{enable|disable}`.
pub async fn coupon_action(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let result = async {
        let on = match action.as_str() {
            "enable" => true,
            "disable" => false,
            _ => return Err(CoreError::NotFound),
        };
        let v = billing::viewer(&state.db, &p).await?;
        billing::coupons::set_active(&state.db, &v, &p.user_id, &id, on).await
    }
    .await;
    match result {
        Ok(c) => {
            let state = if c.active { "on" } else { "off" };
            back(
                &session,
                "/admin/coupons",
                Ok(format!("{} is {state}.", c.code)),
                None,
            )
            .await
        }
        Err(e) => back_err(&session, "/admin/coupons", e).await,
    }
}

/// `POST /admin/tax-rates`.
pub async fn create_tax_rate(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let input = billing::tax::TaxRateInput {
        name: field(&f, "name"),
        country: field(&f, "country"),
        region: opt(&f, "region"),
        rate: field(&f, "rate"),
        inclusive: field(&f, "inclusive") == "true",
        valid_from: opt(&f, "validFrom"),
        valid_to: opt(&f, "validTo"),
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        billing::tax::create(&state.db, &v, &p.user_id, input).await
    }
    .await;
    outcome(&session, "/admin/tax-rates", result, |r| {
        format!("Added {} for {}.", r.name, r.country)
    })
    .await
}

/// `POST /admin/products/{id}/{active|inactive}`: sell it, or stop selling it
/// (existing subscriptions go on).
pub async fn product_status(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path((id, status)): Path<(String, String)>,
) -> Response {
    let input = ProductInput {
        status: Some(status),
        ..Default::default()
    };
    let result = async {
        let v = billing::viewer(&state.db, &p).await?;
        products::update(&state.db, &v, &p.user_id, &id, input).await
    }
    .await;
    match result {
        Ok(prod) => {
            let msg = if prod.status == "active" {
                format!("{} is for sale.", prod.name)
            } else {
                format!("{} is no longer sold; its subscriptions go on.", prod.name)
            };
            back(&session, "/admin/products", Ok(msg), None).await
        }
        Err(e) => back_err(&session, "/admin/products", e).await,
    }
}
