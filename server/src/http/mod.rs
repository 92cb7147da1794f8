//! The HTTP side: one router for the four API surfaces and the portals.
//!
//! | prefix                 | surface  | contract                 |
//! |------------------------|----------|--------------------------|
//! | `/api`                 | mpanel + wp | contracts/mpanel.yaml, contracts/wp.yaml |
//! | `/api/v1`, `/metrics`  | rustploy | contracts/rustploy.yaml  |
//! | `/sites`, `/health`    | tenant   | contracts/tenant.yaml    |
//! | everything else        | portals  | HTML (Leptos)            |

pub mod accounts;
pub mod admin_forms;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod billing_forms;
pub mod cloudpods;
pub mod error;
pub mod health;
pub mod idempotency;
pub mod identity;
pub mod jobs;
pub mod metrics;
pub mod node_forms;
pub mod openapi;
pub mod portal;
pub mod routes;
pub mod servers;
pub mod system;
pub mod tokens;

use std::{future::Future, net::SocketAddr, path::PathBuf};

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, Request, State},
    http::{header, HeaderValue},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use mooring_app::{server::PortalContext, shell, App};
use mooring_core::identity::session_store::SqlSessionStore;
use tokio::net::TcpListener;
use tower_http::{
    compression::CompressionLayer, services::ServeDir, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use self::{
    error::{ApiError, Surface},
    routes::RouteTable,
};
use crate::state::AppState;

/// Every API route of the four contracts that this build serves.
pub fn api_routes() -> RouteTable<AppState> {
    RouteTable::new()
        // mpanel (contracts/mpanel.yaml)
        .public_get("/api/health", health::mpanel_health)
        .public_get("/api/status", health::mpanel_status)
        .public_get("/api/openapi.yaml", openapi::mpanel)
        .public_post("/api/auth/login", identity::mpanel_login)
        .public_post("/api/auth/refresh", identity::mpanel_refresh)
        .get("/api/auth/me", identity::mpanel_me)
        .get("/api/tenants", accounts::list_tenants)
        .post("/api/tenants", accounts::create_tenant)
        .get("/api/tenants/{id}", accounts::get_tenant)
        .get("/api/users", accounts::list_users)
        .post("/api/users", accounts::create_user)
        .get("/api/users/{id}", accounts::get_user)
        .put("/api/users/{id}", accounts::update_user)
        .delete("/api/users/{id}", accounts::delete_user)
        .get("/api/audit", audit::list)
        .get("/api/jobs", jobs::list)
        .get("/api/jobs/{id}", jobs::get)
        .post("/api/jobs/{id}/retry", jobs::retry)
        .post("/api/jobs/{id}/cancel", jobs::cancel)
        .get("/api/jobs/{id}/events", jobs::events)
        .get("/api/cloudpods", cloudpods::list)
        .post("/api/cloudpods", cloudpods::create)
        .get("/api/cloudpods/{id}", cloudpods::get)
        .delete("/api/cloudpods/{id}", cloudpods::delete)
        .post("/api/cloudpods/{id}/suspend", cloudpods::suspend)
        .post("/api/cloudpods/{id}/unsuspend", cloudpods::unsuspend)
        .post("/api/cloudpods/{id}/start", cloudpods::start)
        .post("/api/cloudpods/{id}/stop", cloudpods::stop)
        .post("/api/cloudpods/{id}/reboot", cloudpods::reboot)
        .get("/api/servers", servers::list)
        .post("/api/servers", servers::create)
        .get("/api/servers/ssh-key", servers::ssh_key)
        .get("/api/servers/{id}", servers::get)
        .put("/api/servers/{id}", servers::update)
        .delete("/api/servers/{id}", servers::delete)
        .post("/api/servers/{id}/test", servers::test)
        .post(
            "/api/servers/{id}/accept-host-key",
            servers::accept_host_key,
        )
        .get("/api/servers/{id}/probes", servers::probes)
        .get("/api/customers", billing::list_customers)
        .post("/api/customers", billing::create_customer)
        .get("/api/customers/{id}", billing::get_customer)
        .put("/api/customers/{id}", billing::update_customer)
        .get("/api/products", billing::list_products)
        .post("/api/products", billing::create_product)
        .get("/api/products/{id}", billing::get_product)
        .put("/api/products/{id}", billing::update_product)
        .delete("/api/products/{id}", billing::delete_product)
        .post("/api/orders", billing::create_order)
        .get("/api/orders", billing::list_orders)
        .get("/api/orders/{id}", billing::get_order)
        .get("/api/invoices", billing::list_invoices)
        .get("/api/invoices/{id}", billing::get_invoice)
        .patch("/api/invoices/{id}/status", billing::set_invoice_status)
        .post("/api/payments/session", billing::payment_session)
        .public_post("/api/payments/stripe/webhook", billing::stripe_webhook)
        .get("/api/subscriptions", billing::list_subscriptions)
        .get("/api/subscriptions/{id}", billing::get_subscription)
        .post(
            "/api/subscriptions/{id}/cancel",
            billing::cancel_subscription,
        )
        .post(
            "/api/subscriptions/{id}/change",
            billing::change_subscription,
        )
        .get("/api/billing/plans", billing::plans)
        .get("/api/billing/profile", billing::get_profile)
        .put("/api/billing/profile", billing::put_profile)
        .get("/api/billing/addons", billing::addons)
        .get("/api/system/health", system::health)
        .get("/api/system/events", system::events)
        .get("/api/apikeys", api_keys::list)
        .post("/api/apikeys", api_keys::create)
        .delete("/api/apikeys/{id}", api_keys::revoke)
        // wp (contracts/wp.yaml)
        .public_post("/api/login", identity::wp_login)
        .public_post("/api/logout", identity::wp_logout)
        .get("/api/metrics", system::wp_metrics)
        // tenant (contracts/tenant.yaml)
        .public_get("/health", health::tenant_health)
        // rustploy (contracts/rustploy.yaml)
        .public_get("/api/v1/health", health::rustploy_health)
        .public_get("/api/v1/openapi.yaml", openapi::rustploy)
        .public_get("/metrics", metrics::expose)
        .public_post("/api/v1/auth/login", identity::rustploy_login)
        .public_post("/api/v1/auth/logout", identity::rustploy_logout)
        .get("/api/v1/auth/me", identity::rustploy_me)
        .public_post(
            "/api/v1/auth/password-reset/request",
            identity::reset_request,
        )
        .public_post(
            "/api/v1/auth/password-reset/confirm",
            identity::reset_confirm,
        )
        .post("/api/v1/tokens", tokens::create)
        .get("/api/v1/tokens", tokens::list)
        .delete("/api/v1/tokens/{token_id}", tokens::revoke)
}

/// The whole application: API surfaces, contracts, static assets, portals.
pub fn app(state: AppState) -> Router {
    let portal = PortalContext {
        db: state.db.clone(),
        started: state.started,
        stripe: state.config.stripe().is_some(),
        nodes: state.nodes.clone(),
        payment_instructions: state.config.payment_instructions.clone().or_else(|| {
            state.config.stripe().is_none().then(|| {
                "Pay by bank transfer and quote the invoice number; the invoice is marked paid when the money arrives.".to_string()
            })
        }),
    };
    let provide = move || provide_context(portal.clone());
    let options = state.leptos.clone();
    let pages = generate_route_list(App);
    let pkg_dir = PathBuf::from(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    // No content hashes in the file names, so browsers revalidate every time.
    let assets = Router::new()
        .fallback_service(ServeDir::new(pkg_dir))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(CompressionLayer::new());
    let fallback_provide = provide.clone();
    let fallback_options = options.clone();
    let sessions = SessionManagerLayer::new(SqlSessionStore::new(state.db.clone()))
        .with_name("session_token")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.serves_https())
        .with_expiry(Expiry::OnInactivity(auth::SESSION_IDLE))
        // Every authenticated request pushes the idle timeout out.
        .with_always_save(true);
    let router = Router::new()
        .merge(api_routes().into_router())
        .route("/openapi/{file}", get(openapi::by_name))
        .route("/login", post(portal::login_form))
        .route("/logout", post(portal::logout_form))
        .route("/admin/users", post(admin_forms::create_user))
        .route("/admin/users/{id}/{action}", post(admin_forms::user_action))
        .route("/admin/tenants", post(admin_forms::create_tenant))
        .route("/admin/system/check", post(admin_forms::system_check))
        .route("/admin/jobs/{id}/{action}", post(admin_forms::job_action))
        .route(
            "/admin/schedules/{id}/{action}",
            post(admin_forms::schedule_action),
        )
        .route("/admin/customers", post(billing_forms::create_customer))
        .route(
            "/admin/customers/{id}",
            post(billing_forms::update_customer),
        )
        .route("/admin/products/{id}", post(billing_forms::update_product))
        .route(
            "/admin/billing-profile",
            post(billing_forms::update_billing_profile),
        )
        .route(
            "/admin/subscriptions/{id}/change",
            post(billing_forms::change_plan),
        )
        .route(
            "/portal/subscriptions/{id}/change",
            post(billing_forms::change_plan),
        )
        .route(
            "/admin/customers/{id}/login",
            post(billing_forms::customer_login),
        )
        .route("/admin/products", post(billing_forms::create_product))
        .route(
            "/admin/products/{id}/{status}",
            post(billing_forms::product_status),
        )
        .route("/admin/coupons", post(billing_forms::create_coupon))
        .route(
            "/admin/coupons/{id}/{action}",
            post(billing_forms::coupon_action),
        )
        .route("/admin/tax-rates", post(billing_forms::create_tax_rate))
        .route("/admin/servers", post(node_forms::create))
        .route("/admin/servers/{id}/test", post(node_forms::test))
        .route(
            "/admin/servers/{id}/hypervisor",
            post(node_forms::update_hypervisor),
        )
        .route(
            "/admin/servers/{id}/accept-host-key",
            post(node_forms::accept_host_key),
        )
        .route("/admin/servers/{id}/delete", post(node_forms::delete))
        .route("/admin/cloudpods", post(node_forms::create_cloudpod))
        .route(
            "/admin/cloudpods/{id}/{action}",
            post(node_forms::cloudpod_action),
        )
        .route(
            "/portal/cloudpods/{id}/{action}",
            post(node_forms::cloudpod_action),
        )
        .route(
            "/admin/products/{id}/size",
            post(billing_forms::product_size),
        )
        .route(
            "/admin/invoices/{id}/{status}",
            post(billing_forms::invoice_status),
        )
        .route(
            "/admin/subscriptions/{id}/cancel",
            post(billing_forms::cancel_subscription),
        )
        .route(
            "/portal/subscriptions/{id}/cancel",
            post(billing_forms::cancel_subscription),
        )
        .route("/portal/orders", post(billing_forms::place_order))
        .route(
            "/portal/invoices/{id}/pay",
            post(billing_forms::pay_invoice),
        )
        .route("/admin/api-keys", post(admin_forms::create_api_key))
        .route(
            "/admin/api-keys/{id}/revoke",
            post(admin_forms::revoke_api_key),
        )
        .route("/admin/tokens", post(admin_forms::create_token))
        .route("/admin/tokens/{id}/revoke", post(admin_forms::revoke_token))
        .route(
            "/admin/profile/password",
            post(admin_forms::change_password),
        )
        .route("/forgot-password", post(portal::forgot_form))
        .route("/reset-password", post(portal::reset_form))
        .nest("/pkg", assets)
        .leptos_routes_with_context(&state, pages, provide, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(move |State(_s): State<AppState>, req: Request| {
            let provide = fallback_provide.clone();
            let options = fallback_options.clone();
            async move { fallback(req, provide, options).await }
        });
    let router = router
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        // Inside auth::resolve: it needs the caller.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), portal::guard))
        .layer(middleware::from_fn_with_state(state.clone(), auth::resolve))
        .layer(sessions);
    surface_layers(router, state.config.max_body_bytes).with_state(state)
}

/// The layers every route sits under: errors in the surface's shape, the body
/// size limit, request tracing.
pub fn surface_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    max_body: usize,
) -> Router<S> {
    router
        .layer(middleware::from_fn(error::shape_errors))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TraceLayer::new_for_http())
}

/// Unknown paths: a JSON 404 on the API surfaces, the not-found page elsewhere.
async fn fallback(
    req: Request,
    provide: impl Fn() + Clone + Send + Sync + 'static,
    options: LeptosOptions,
) -> Response {
    if Surface::of(req.uri().path()) != Surface::Portal {
        return ApiError::not_found().into_response();
    }
    let render =
        leptos_axum::render_app_to_stream_with_context(provide, move || shell(options.clone()));
    let req = req.map(Body::new);
    render(req).await.into_response()
}

/// Serve `app` on `listener` until `shutdown` resolves, then finish in-flight requests.
pub async fn launch(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
