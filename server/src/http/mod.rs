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
pub mod page_cache;
pub mod pkg;
pub mod portal;
pub mod routes;
pub mod servers;
pub mod system;
pub mod tokens;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc};

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, Path, Request, State},
    http::HeaderMap,
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use mooring_app::{server::PortalContext, shell, App};
use mooring_core::identity::session_store::SqlSessionStore;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
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
        .get("/api/status", health::mpanel_status)
        .public_get("/api/openapi.yaml", openapi::mpanel)
        .public_post("/api/auth/login", identity::mpanel_login)
        .public_post("/api/auth/refresh", identity::mpanel_refresh)
        .get("/api/auth/me", identity::mpanel_me)
        .anyone()
        .get("/api/tenants", accounts::list_tenants)
        .platform()
        .post("/api/tenants", accounts::create_tenant)
        .platform()
        .get("/api/tenants/{id}", accounts::get_tenant)
        .platform()
        .get("/api/users", accounts::list_users)
        .post("/api/users", accounts::create_user)
        .admins()
        .get("/api/users/{id}", accounts::get_user)
        .put("/api/users/{id}", accounts::update_user)
        .admins()
        .delete("/api/users/{id}", accounts::delete_user)
        .admins()
        .get("/api/audit", audit::list)
        .get("/api/jobs", jobs::list)
        .get("/api/jobs/{id}", jobs::get)
        .post("/api/jobs/{id}/retry", jobs::retry)
        .post("/api/jobs/{id}/cancel", jobs::cancel)
        .get("/api/jobs/{id}/events", jobs::events)
        .get("/api/cloudpods", cloudpods::list)
        .anyone()
        .post("/api/cloudpods", cloudpods::create)
        .anyone()
        .get("/api/cloudpods/{id}", cloudpods::get)
        .anyone()
        .delete("/api/cloudpods/{id}", cloudpods::delete)
        .anyone()
        .post("/api/cloudpods/{id}/suspend", cloudpods::suspend)
        .post("/api/cloudpods/{id}/unsuspend", cloudpods::unsuspend)
        .post("/api/cloudpods/{id}/start", cloudpods::start)
        .anyone()
        .post("/api/cloudpods/{id}/stop", cloudpods::stop)
        .anyone()
        .post("/api/cloudpods/{id}/reboot", cloudpods::reboot)
        .anyone()
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
        .anyone()
        .post("/api/customers", billing::create_customer)
        .get("/api/customers/{id}", billing::get_customer)
        .anyone()
        .put("/api/customers/{id}", billing::update_customer)
        .anyone()
        .get("/api/products", billing::list_products)
        .anyone()
        .post("/api/products", billing::create_product)
        .get("/api/products/{id}", billing::get_product)
        .anyone()
        .put("/api/products/{id}", billing::update_product)
        .delete("/api/products/{id}", billing::delete_product)
        .post("/api/orders", billing::create_order)
        .anyone()
        .get("/api/orders", billing::list_orders)
        .anyone()
        .get("/api/orders/{id}", billing::get_order)
        .anyone()
        .get("/api/invoices", billing::list_invoices)
        .anyone()
        .get("/api/invoices/{id}", billing::get_invoice)
        .anyone()
        .patch("/api/invoices/{id}/status", billing::set_invoice_status)
        .post("/api/payments/session", billing::payment_session)
        .anyone()
        .public_post("/api/payments/stripe/webhook", billing::stripe_webhook)
        .get("/api/subscriptions", billing::list_subscriptions)
        .anyone()
        .get("/api/subscriptions/{id}", billing::get_subscription)
        .anyone()
        .post(
            "/api/subscriptions/{id}/cancel",
            billing::cancel_subscription,
        )
        .anyone()
        .post(
            "/api/subscriptions/{id}/change",
            billing::change_subscription,
        )
        .anyone()
        .get("/api/billing/plans", billing::plans)
        .anyone()
        .get("/api/billing/profile", billing::get_profile)
        .put("/api/billing/profile", billing::put_profile)
        .get("/api/billing/addons", billing::addons)
        .anyone()
        .get("/api/system/health", system::health)
        .get("/api/system/events", system::events)
        .get("/api/apikeys", api_keys::list)
        .admins()
        .post("/api/apikeys", api_keys::create)
        .admins()
        .delete("/api/apikeys/{id}", api_keys::revoke)
        .admins()
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
        .anyone()
        .public_post(
            "/api/v1/auth/password-reset/request",
            identity::reset_request,
        )
        .public_post(
            "/api/v1/auth/password-reset/confirm",
            identity::reset_confirm,
        )
        .post("/api/v1/tokens", tokens::create)
        .anyone()
        .get("/api/v1/tokens", tokens::list)
        .anyone()
        .delete("/api/v1/tokens/{token_id}", tokens::revoke)
        .anyone()
}

/// Everything the route table guards: the API routes, the portals' forms
/// (`/admin/...` for operators, `/portal/...` for customers) and the
/// server functions.
pub fn routes() -> RouteTable<AppState> {
    api_routes()
        .public_form("/login", portal::login_form)
        .public_form("/logout", portal::logout_form)
        .form("/admin/users", admin_forms::create_user)
        .form("/admin/users/{id}/{action}", admin_forms::user_action)
        .form("/admin/tenants", admin_forms::create_tenant)
        .form("/admin/system/check", admin_forms::system_check)
        .form("/admin/jobs/{id}/{action}", admin_forms::job_action)
        .form(
            "/admin/schedules/{id}/{action}",
            admin_forms::schedule_action,
        )
        .form("/admin/customers", billing_forms::create_customer)
        .form("/admin/customers/{id}", billing_forms::update_customer)
        .form("/admin/products/{id}", billing_forms::update_product)
        .form(
            "/admin/billing-profile",
            billing_forms::update_billing_profile,
        )
        .form(
            "/admin/subscriptions/{id}/change",
            billing_forms::change_plan,
        )
        .form(
            "/portal/subscriptions/{id}/change",
            billing_forms::change_plan,
        )
        .customers()
        .form("/admin/customers/{id}/login", billing_forms::customer_login)
        .form("/admin/products", billing_forms::create_product)
        .form(
            "/admin/products/{id}/{status}",
            billing_forms::product_status,
        )
        .form("/admin/coupons", billing_forms::create_coupon)
        .form("/admin/coupons/{id}/{action}", billing_forms::coupon_action)
        .form("/admin/tax-rates", billing_forms::create_tax_rate)
        .form("/admin/servers", node_forms::create)
        .form("/admin/servers/{id}/test", node_forms::test)
        .form(
            "/admin/servers/{id}/hypervisor",
            node_forms::update_hypervisor,
        )
        .form(
            "/admin/servers/{id}/accept-host-key",
            node_forms::accept_host_key,
        )
        .form("/admin/servers/{id}/delete", node_forms::delete)
        .form("/admin/cloudpods", node_forms::create_cloudpod)
        .form(
            "/admin/cloudpods/{id}/{action}",
            node_forms::cloudpod_action,
        )
        .form(
            "/portal/cloudpods/{id}/{action}",
            node_forms::cloudpod_action,
        )
        .customers()
        .form("/admin/products/{id}/size", billing_forms::product_size)
        .form(
            "/admin/invoices/{id}/{status}",
            billing_forms::invoice_status,
        )
        .form(
            "/admin/subscriptions/{id}/cancel",
            billing_forms::cancel_subscription,
        )
        .form(
            "/portal/subscriptions/{id}/cancel",
            billing_forms::cancel_subscription,
        )
        .customers()
        .form("/portal/orders", billing_forms::place_order)
        .customers()
        .form("/portal/invoices/{id}/pay", billing_forms::pay_invoice)
        .customers()
        .form("/admin/api-keys", admin_forms::create_api_key)
        .form("/admin/api-keys/{id}/revoke", admin_forms::revoke_api_key)
        .form("/admin/tokens", admin_forms::create_token)
        .form("/admin/tokens/{id}/revoke", admin_forms::revoke_token)
        .form("/admin/profile/password", admin_forms::change_password)
        .public_form("/forgot-password", portal::forgot_form)
        .public_form("/reset-password", portal::reset_form)
        .server_fn("nodes_servers")
        .server_fn("nodes_server")
        .server_fn("nodes_key")
        .server_fn("system_status")
        .server_fn("admin_users")
        .server_fn("admin_jobs")
        .server_fn("admin_job")
        .server_fn("job_counters")
        .server_fn("admin_audit")
        .server_fn("admin_schedules")
        .server_fn("system_events")
        .server_fn("billing_customers")
        .server_fn("billing_customer")
        .server_fn("billing_product")
        .server_fn("billing_profile")
        .server_fn("billing_coupons")
        .server_fn("billing_tax_rates")
        .server_fn("my_tokens")
        .anyone()
        .server_fn("billing_products")
        .anyone()
        .server_fn("billing_invoices")
        .anyone()
        .server_fn("billing_invoice")
        .anyone()
        .server_fn("billing_subscriptions")
        .anyone()
        .server_fn("billing_payment_mode")
        .anyone()
        .server_fn("billing_orders")
        .anyone()
        .server_fn("cloudpods_list")
        .anyone()
        .server_fn("cloudpod_detail")
        .anyone()
        .server_fn("admin_api_keys")
        .admins()
        .server_fn("admin_tenants")
        .platform()
}

/// The whole application: API surfaces, contracts, static assets, portals.
pub fn app(state: AppState) -> Router {
    let portal = Arc::new(PortalContext {
        db: state.db.clone(),
        started: state.started,
        stripe: state.config.stripe().is_some(),
        nodes: state.nodes.clone(),
        payment_instructions: state.config.payment_instructions.clone().or_else(|| {
            state.config.stripe().is_none().then(|| {
                "Pay by bank transfer and quote the invoice number; the invoice is marked paid when the money arrives.".to_string()
            })
        }),
    });
    let provide = move || provide_context(portal.clone());
    // The built site, in memory. With a content hash, the pages link the
    // hashed names: the shell's scripts follow `output_name`, its stylesheet
    // too (`mooring_app::stylesheet_href`).
    let mut state = state;
    let bundle = Arc::new(crate::assets::Bundle::load(
        &PathBuf::from(state.leptos.site_root.as_ref()).join(state.leptos.site_pkg_dir.as_ref()),
        &state.leptos.output_name,
    ));
    if let Some(hash) = bundle.hash() {
        let hashed = format!("{}.{hash}", state.leptos.output_name);
        state.edit().leptos.output_name = hashed.into();
    }
    let options = state.leptos.clone();
    let pages = generate_route_list(App);
    let assets = get(move |Path(file): Path<String>, headers: HeaderMap| {
        let bundle = bundle.clone();
        async move { pkg::serve(&bundle, &file, &headers).await }
    });
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
    let (table, gate) = routes().into_parts();
    let router = Router::new()
        .merge(table)
        .route("/openapi/{file}", get(openapi::by_name))
        .route("/pkg/{*file}", assets)
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
        .layer(middleware::from_fn(move |req, next| {
            routes::fn_gate(gate.clone(), req, next)
        }))
        .layer(middleware::from_fn_with_state(state.clone(), portal::guard))
        .layer(middleware::from_fn_with_state(state.clone(), auth::resolve))
        .layer(sessions)
        // Outside the session: a hit costs no session, credential or render.
        .layer(middleware::from_fn_with_state(
            page_cache::SameForEveryone::default(),
            page_cache::layer,
        ));
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
