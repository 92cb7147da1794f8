//! Page frames of the admin and customer portals.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use super::islands::{LiveBadge, NavMenu};

/// A navigation entry.
#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    // `A` marks the current page with aria-current="page".
    view! { <li><A href=href exact=true>{label}</A></li> }
}

/// Header, navigation and content area of `/admin`.
#[component]
pub fn AdminLayout() -> impl IntoView {
    view! {
        <div class="frame">
            <header class="topbar">
                <a class="brand" href="/admin">"Mooring"<span class="brand-sub">"Admin"</span></a>
                <LiveBadge/>
            </header>
            <NavMenu>
                <nav class="sidenav" aria-label="Admin">
                    <ul>
                        <NavLink href="/admin" label="Dashboard"/>
                        <NavLink href="/admin/system" label="System"/>
                    </ul>
                </nav>
            </NavMenu>
            <main class="content" id="main">
                <Outlet/>
            </main>
        </div>
    }
}

/// Header, navigation and content area of `/portal`.
#[component]
pub fn PortalLayout() -> impl IntoView {
    view! {
        <div class="frame">
            <header class="topbar">
                <a class="brand" href="/portal">"Mooring"<span class="brand-sub">"Customer portal"</span></a>
                <LiveBadge/>
            </header>
            <NavMenu>
                <nav class="sidenav" aria-label="Portal">
                    <ul>
                        <NavLink href="/portal" label="Overview"/>
                    </ul>
                </nav>
            </NavMenu>
            <main class="content" id="main">
                <Outlet/>
            </main>
        </div>
    }
}
