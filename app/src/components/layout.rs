//! Page frames of the admin and customer portals.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use super::islands::{LiveBadge, NavMenu};

/// The one-time message the last form left: a result, an error, or a new secret.
#[component]
fn FlashBanner() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let flash = crate::server::current_flash();
    #[cfg(not(feature = "ssr"))]
    let flash: Option<crate::server::Flash> = None;
    flash.map(|f| {
        let role = if f.kind == "error" { "alert" } else { "status" };
        view! {
            <div class=format!("flash flash-{}", f.kind) role=role data-testid="flash">
                <p>{f.message}</p>
                {f.secret.map(|s| view! {
                    <p class="secret-box">
                        <code data-testid="secret">{s}</code>
                    </p>
                    <p class="small">"Copy it now: it is not shown again."</p>
                })}
            </div>
        }
    })
}

/// The last form's error about `field`, shown next to that field.
#[component]
pub fn FieldError(field: &'static str) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let flash = crate::server::current_flash();
    #[cfg(not(feature = "ssr"))]
    let flash: Option<crate::server::Flash> = None;
    flash
        .filter(|f| f.kind == "error" && f.field.as_deref() == Some(field))
        .map(|f| view! { <p class="error field-error" id=format!("{field}-error") data-field=field>{f.message}</p> })
}

/// Who is signed in, and the sign-out button (a plain form: works without JavaScript).
#[component]
fn Account() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let user = crate::server::current_user();
    #[cfg(not(feature = "ssr"))]
    let user: Option<crate::server::PortalUser> = None;
    user.map(|u| {
        view! {
            <div class="account">
                <span class="account-email" data-testid="account-email">{u.email}</span>
                <form method="post" action="/logout" class="inline">
                    <button type="submit" class="button small">"Sign out"</button>
                </form>
            </div>
        }
    })
}

/// A navigation entry.
#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    // `A` marks the current page with aria-current="page".
    view! { <li><A href=href exact=true>{label}</A></li> }
}

/// Whether the signed-in person runs the whole installation.
fn platform_admin() -> bool {
    #[cfg(feature = "ssr")]
    return crate::server::current_user().is_some_and(|u| u.platform_admin);
    #[cfg(not(feature = "ssr"))]
    false
}

/// The frame of a portal: top bar, navigation (`children`: its entries), content.
#[component]
fn Frame(
    home: &'static str,
    area: &'static str,
    nav_label: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="frame">
            <header class="topbar">
                <a class="brand" href=home>"Mooring"<span class="brand-sub">{area}</span></a>
                <div class="topbar-right"><LiveBadge/><Account/></div>
            </header>
            <NavMenu>
                <nav class="sidenav" aria-label=nav_label>
                    <ul>{children()}</ul>
                </nav>
            </NavMenu>
            <main class="content" id="main">
                <FlashBanner/>
                <Outlet/>
            </main>
        </div>
    }
}

/// Header, navigation and content area of `/admin`.
#[component]
pub fn AdminLayout() -> impl IntoView {
    view! {
        <Frame home="/admin" area="Admin" nav_label="Admin">
            <NavLink href="/admin" label="Dashboard"/>
            <NavLink href="/admin/jobs" label="Jobs"/>
            <NavLink href="/admin/servers" label="Servers"/>
            <NavLink href="/admin/cloudpods" label="CloudPods"/>
            <NavLink href="/admin/customers" label="Customers"/>
            <NavLink href="/admin/products" label="Products"/>
            <NavLink href="/admin/orders" label="Orders"/>
            <NavLink href="/admin/invoices" label="Invoices"/>
            <NavLink href="/admin/subscriptions" label="Subscriptions"/>
            <NavLink href="/admin/coupons" label="Coupons"/>
            <NavLink href="/admin/tax-rates" label="Tax rates"/>
            <NavLink href="/admin/billing-profile" label="Billing profile"/>
            <NavLink href="/admin/schedules" label="Schedules"/>
            <NavLink href="/admin/events" label="Events"/>
            <NavLink href="/admin/users" label="Users"/>
            {platform_admin().then(|| view! { <NavLink href="/admin/tenants" label="Tenants"/> })}
            <NavLink href="/admin/api-keys" label="API keys"/>
            <NavLink href="/admin/tokens" label="Access tokens"/>
            <NavLink href="/admin/audit" label="Audit log"/>
            <NavLink href="/admin/profile" label="Profile"/>
            <NavLink href="/admin/system" label="System"/>
        </Frame>
    }
}

/// Header, navigation and content area of `/portal`.
#[component]
pub fn PortalLayout() -> impl IntoView {
    view! {
        <Frame home="/portal" area="Customer portal" nav_label="Portal">
            <NavLink href="/portal" label="Overview"/>
            <NavLink href="/portal/order" label="Order"/>
            <NavLink href="/portal/services" label="Services"/>
            <NavLink href="/portal/cloudpods" label="CloudPods"/>
            <NavLink href="/portal/invoices" label="Invoices"/>
        </Frame>
    }
}
