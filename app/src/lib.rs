#![recursion_limit = "256"]
//! Mooring's portals: the admin portal (`/admin`), the customer portal
//! (`/portal`) and sign-in (`/login`).
//!
//! Leptos in islands mode: every page renders on the server; only the
//! `#[island]` components in [`components::islands`] hydrate in the browser.
//! Server functions are thin: they read state from context and call
//! `mooring-core` (only compiled with the `ssr` feature).

pub mod billing;
pub mod cloudpods;
pub mod components;
pub mod nodes;
pub mod pages;
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

use components::layout::{AdminLayout, PortalLayout};
use pages::{
    admin::{AdminDashboard, AdminSystem},
    audit::AdminAudit,
    billing_admin::{
        AdminBillingProfile, AdminCoupons, AdminCustomer, AdminCustomers, AdminInvoice,
        AdminInvoices, AdminOrders, AdminProduct, AdminProducts, AdminSubscriptions, AdminTaxRates,
    },
    cloudpods::{AdminCloudPod, AdminCloudPods, PortalCloudPods},
    home::Home,
    identity::{AdminApiKeys, AdminTenants, AdminTokens, AdminUsers, Profile},
    jobs::{AdminJob, AdminJobs},
    login::{ForgotPasswordPage, LoginPage, ResetPasswordPage},
    not_found::NotFound,
    portal::{PortalInvoice, PortalInvoices, PortalOrder, PortalOverview, PortalSubscriptions},
    schedules::{AdminEvents, AdminSchedules},
    servers::{AdminServer, AdminServers},
};

/// The URL prefix of server functions. `/api` belongs to the JSON API surfaces.
pub const SERVER_FN_PREFIX: &str = "/_fn";

/// The stylesheet's URL. The server names the bundle by its content hash:
/// `output_name` `mooring-frontend.<hash>` (from which Leptos derives the
/// script and WASM URLs) goes with `mooring.<hash>.css`; an unhashed
/// `output_name` with the plain `mooring.css`.
pub fn stylesheet_href(options: &LeptosOptions) -> String {
    let pkg = &options.site_pkg_dir;
    match options.output_name.rsplit_once('.') {
        Some((_, hash)) => format!("/{pkg}/mooring.{hash}.css"),
        None => format!("/{pkg}/mooring.css"),
    }
}

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = stylesheet_href(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="stylesheet" href=stylesheet/>
                <link rel="icon" href="data:,"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The routes of both portals.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| if page.is_empty() { "Mooring".to_string() } else { format!("{page} · Mooring") }/>
        <Router>
            <Routes fallback=NotFound>
                // Async: the whole page is rendered before it is sent, so it is
                // complete without JavaScript (no out-of-order streaming).
                <Route path=path!("/") view=Home ssr=SsrMode::Async/>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/forgot-password") view=ForgotPasswordPage ssr=SsrMode::Async/>
                <Route path=path!("/reset-password") view=ResetPasswordPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("/admin") view=AdminLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=AdminDashboard ssr=SsrMode::Async/>
                    <Route path=path!("system") view=AdminSystem ssr=SsrMode::Async/>
                    <Route path=path!("users") view=AdminUsers ssr=SsrMode::Async/>
                    <Route path=path!("tenants") view=AdminTenants ssr=SsrMode::Async/>
                    <Route path=path!("jobs") view=AdminJobs ssr=SsrMode::Async/>
                    <Route path=path!("audit") view=AdminAudit ssr=SsrMode::Async/>
                    <Route path=path!("jobs/:id") view=AdminJob ssr=SsrMode::Async/>
                    <Route path=path!("schedules") view=AdminSchedules ssr=SsrMode::Async/>
                    <Route path=path!("servers") view=AdminServers ssr=SsrMode::Async/>
                    <Route path=path!("cloudpods") view=AdminCloudPods ssr=SsrMode::Async/>
                    <Route path=path!("cloudpods/:id") view=AdminCloudPod ssr=SsrMode::Async/>
                    <Route path=path!("servers/:id") view=AdminServer ssr=SsrMode::Async/>
                    <Route path=path!("customers") view=AdminCustomers ssr=SsrMode::Async/>
                    <Route path=path!("customers/:id") view=AdminCustomer ssr=SsrMode::Async/>
                    <Route path=path!("products") view=AdminProducts ssr=SsrMode::Async/>
                    <Route path=path!("products/:id") view=AdminProduct ssr=SsrMode::Async/>
                    <Route path=path!("orders") view=AdminOrders ssr=SsrMode::Async/>
                    <Route path=path!("billing-profile") view=AdminBillingProfile ssr=SsrMode::Async/>
                    <Route path=path!("invoices") view=AdminInvoices ssr=SsrMode::Async/>
                    <Route path=path!("invoices/:id") view=AdminInvoice ssr=SsrMode::Async/>
                    <Route path=path!("subscriptions") view=AdminSubscriptions ssr=SsrMode::Async/>
                    <Route path=path!("coupons") view=AdminCoupons ssr=SsrMode::Async/>
                    <Route path=path!("tax-rates") view=AdminTaxRates ssr=SsrMode::Async/>
                    <Route path=path!("events") view=AdminEvents ssr=SsrMode::Async/>
                    <Route path=path!("api-keys") view=AdminApiKeys ssr=SsrMode::Async/>
                    <Route path=path!("tokens") view=AdminTokens ssr=SsrMode::Async/>
                    <Route path=path!("profile") view=Profile ssr=SsrMode::Async/>
                </ParentRoute>
                <ParentRoute path=path!("/portal") view=PortalLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=PortalOverview ssr=SsrMode::Async/>
                    <Route path=path!("order") view=PortalOrder ssr=SsrMode::Async/>
                    <Route path=path!("invoices") view=PortalInvoices ssr=SsrMode::Async/>
                    <Route path=path!("invoices/:id") view=PortalInvoice ssr=SsrMode::Async/>
                    <Route path=path!("services") view=PortalSubscriptions ssr=SsrMode::Async/>
                    <Route path=path!("cloudpods") view=PortalCloudPods ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Called once by the WASM entry point (`frontend/`) before islands hydrate.
#[cfg(feature = "hydrate")]
pub fn init_hydrate() {
    leptos::mount::hydrate_islands();
}
