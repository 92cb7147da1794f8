//! mpanel billing (§4.2 customers, §5 products, §6 orders, §7 invoices,
//! §8 payments, §9 subscriptions, §17 plans and add-ons). Thin: parse, find
//! the caller's billing view, call core (which authorizes), map.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::{
    billing::{
        self,
        customers::{self, CustomerInput},
        invoices,
        orders::{self, OrderInput},
        payments,
        products::{self, ProductFilter, ProductInput},
        subscriptions::{self, SubscriptionFilter},
        Viewer,
    },
    identity::Principal,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::Caller,
    error::{checked_page, ApiError, ApiJson, ApiQuery},
};
use crate::state::AppState;

async fn viewer(state: &AppState, p: &Principal) -> Result<Viewer, ApiError> {
    Ok(billing::viewer(&state.db, p).await?)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CustomersQuery {
    search: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

pub async fn list_customers(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<CustomersQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = viewer(&state, &p).await?;
    let (items, total) = customers::list(&state.db, &v, q.search.as_deref(), page).await?;
    Ok(Json(json!({ "items": items, "total": total })))
}

pub async fn get_customer(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(json!(customers::get(&state.db, &v, &id).await?)))
}

pub async fn create_customer(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<CustomerInput>,
) -> Result<Response, ApiError> {
    let v = viewer(&state, &p).await?;
    let c = customers::create(&state.db, &v, &p.user_id, body).await?;
    Ok((StatusCode::CREATED, Json(json!(c))).into_response())
}

pub async fn update_customer(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CustomerInput>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(json!(
        customers::update(&state.db, &v, &p.user_id, &id, body).await?
    )))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProductsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    active_only: Option<bool>,
    page: Option<i64>,
    page_size: Option<i64>,
}

fn product_list(items: Vec<products::Product>, total: i64) -> Json<Value> {
    Json(json!({
        "items": items.iter().map(products::Product::to_json).collect::<Vec<_>>(),
        "total": total,
    }))
}

pub async fn list_products(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ProductsQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = viewer(&state, &p).await?;
    let f = ProductFilter {
        kind: q.kind,
        active_only: q.active_only.unwrap_or(false),
        exclude_addons: false,
    };
    let (items, total) = products::list(&state.db, &v, &f, page).await?;
    Ok(product_list(items, total))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PageOnly {
    page: Option<i64>,
    page_size: Option<i64>,
}

/// `GET /api/billing/plans`: active products that are not add-ons.
pub async fn plans(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<PageOnly>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = viewer(&state, &p).await?;
    let f = ProductFilter {
        kind: None,
        active_only: true,
        exclude_addons: true,
    };
    let (items, total) = products::list(&state.db, &v, &f, page).await?;
    Ok(product_list(items, total))
}

/// `GET /api/billing/addons`: active add-ons.
pub async fn addons(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<PageOnly>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = viewer(&state, &p).await?;
    let f = ProductFilter {
        kind: Some("addon".into()),
        active_only: true,
        exclude_addons: false,
    };
    let (items, total) = products::list(&state.db, &v, &f, page).await?;
    Ok(product_list(items, total))
}

pub async fn get_product(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(products::get(&state.db, &v, &id).await?.to_json()))
}

pub async fn create_product(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ProductInput>,
) -> Result<Response, ApiError> {
    let v = viewer(&state, &p).await?;
    let product = products::create(&state.db, &v, &p.user_id, body).await?;
    Ok((StatusCode::CREATED, Json(product.to_json())).into_response())
}

pub async fn update_product(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProductInput>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(
        products::update(&state.db, &v, &p.user_id, &id, body)
            .await?
            .to_json(),
    ))
}

pub async fn delete_product(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let v = viewer(&state, &p).await?;
    products::delete(&state.db, &v, &p.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_order(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<OrderInput>,
) -> Result<Response, ApiError> {
    let v = viewer(&state, &p).await?;
    let (order, invoice) = orders::create(&state.db, &v, &p.user_id, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "order": order.to_json(), "invoice": invoice.summary_json() })),
    )
        .into_response())
}

pub async fn get_order(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(orders::get(&state.db, &v, &id).await?.to_json()))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OrdersQuery {
    status: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// `GET /api/orders` (extension).
pub async fn list_orders(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = viewer(&state, &p).await?;
    let (items, total) = orders::list(&state.db, &v, q.status.as_deref(), page).await?;
    Ok(Json(json!({
        "items": items.iter().map(|o| json!({
            "id": o.id,
            "customerId": o.customer_id,
            "customerName": o.customer_name,
            "status": o.status,
            "total": mooring_core::billing::amount(o.total, &o.currency),
            "currency": o.currency,
            "couponCode": o.coupon_code,
            "firstItem": o.first_line,
            "items": o.lines,
            "invoiceId": o.invoice_id,
            "invoiceNumber": o.invoice_number.map(mooring_core::billing::invoices::number_text),
            "createdAt": o.created_at,
        })).collect::<Vec<_>>(),
        "total": total,
    })))
}

/// `GET /api/billing/profile` (extension).
pub async fn get_profile(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(json!(
        mooring_core::billing::profile::get(&state.db, &v).await?
    )))
}

/// `PUT /api/billing/profile` (extension).
pub async fn put_profile(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<mooring_core::billing::profile::ProfileInput>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(json!(
        mooring_core::billing::profile::set(&state.db, &v, &p.user_id, body).await?
    )))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InvoicesQuery {
    customer_id: Option<String>,
    status: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

pub async fn list_invoices(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<InvoicesQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = viewer(&state, &p).await?;
    let (items, total) = invoices::list(
        &state.db,
        &v,
        q.customer_id.as_deref(),
        q.status.as_deref(),
        page,
    )
    .await?;
    Ok(Json(json!({
        "items": items.iter().map(invoices::Invoice::to_json).collect::<Vec<_>>(),
        "total": total,
    })))
}

pub async fn get_invoice(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(invoices::get(&state.db, &v, &id).await?.to_json()))
}

#[derive(Deserialize)]
pub struct StatusBody {
    status: String,
}

pub async fn set_invoice_status(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    let inv = if body.status == "refunded" {
        let stripe = state.config.stripe();
        invoices::refund(&state.db, &v, &p.user_id, &id, stripe.as_ref()).await?
    } else {
        invoices::set_status(&state.db, &v, &p.user_id, &id, &body.status).await?
    };
    Ok(Json(inv.to_json()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    invoice_id: String,
    success_url: String,
    cancel_url: String,
}

pub async fn payment_session(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<SessionBody>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    let base = state.config.public_base();
    let s = payments::create_session(
        &state.db,
        &v,
        &body.invoice_id,
        &body.success_url,
        &body.cancel_url,
        &base,
        state.config.stripe().as_ref(),
    )
    .await?;
    Ok(Json(json!({
        "provider": s.provider,
        "sessionId": s.session_id,
        "checkoutUrl": s.checkout_url,
    })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsQuery {
    customer_id: Option<String>,
    status: Option<String>,
    product_type: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

pub async fn list_subscriptions(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<SubscriptionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = viewer(&state, &p).await?;
    let f = SubscriptionFilter {
        customer_id: q.customer_id,
        status: q.status,
        product_type: q.product_type,
    };
    let (items, total) = subscriptions::list(&state.db, &v, &f, page).await?;
    Ok(Json(json!({
        "items": items.iter().map(subscriptions::Subscription::to_json).collect::<Vec<_>>(),
        "total": total,
    })))
}

pub async fn get_subscription(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    Ok(Json(
        subscriptions::get(&state.db, &v, &id).await?.to_json(),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CancelBody {
    cancel_at_period_end: Option<bool>,
}

pub async fn cancel_subscription(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: Option<ApiJson<CancelBody>>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    let at_end = body
        .and_then(|ApiJson(b)| b.cancel_at_period_end)
        .unwrap_or(true);
    Ok(Json(
        subscriptions::cancel(&state.db, &v, &p.user_id, &id, at_end)
            .await?
            .to_json(),
    ))
}

/// `POST /api/payments/stripe/webhook`: verified against the raw body before
/// anything is read; 200 once applied (or seen before); 400 for unsigned,
/// forged or stale deliveries; 409 for an event that must wait for another
/// (Stripe delivers it again later).
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    use mooring_core::billing::stripe;
    let Some(cfg) = state.config.stripe() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "stripe_not_configured",
            "Stripe is not configured on this installation",
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(e) = stripe::verify_signature(signature, &body, &cfg.webhook_secret, now, 300) {
        tracing::warn!(error = %e, "refused a Stripe webhook");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_signature",
            format!("the webhook's signature does not verify: {e}"),
        ));
    }
    let event: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the event is not JSON: {e}"),
        )
    })?;
    let outcome = stripe::handle_event(&state.db, &event).await?;
    tracing::info!(event = %event["id"], kind = %event["type"], ?outcome, "Stripe webhook");
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeBody {
    product_id: String,
}

/// `POST /api/subscriptions/{id}/change` (documented extension).
pub async fn change_subscription(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Json<Value>, ApiError> {
    let v = viewer(&state, &p).await?;
    let (sub, inv) =
        subscriptions::change_plan(&state.db, &v, &p.user_id, &id, &body.product_id).await?;
    Ok(Json(
        json!({ "subscription": sub.to_json(), "invoice": inv.summary_json() }),
    ))
}
