//! The interactive parts: the only components whose code ships as WASM.

use leptos::prelude::*;

/// Shows "Static" in the server-rendered HTML and "Live" once this page's
/// WASM has hydrated: the visible sign that interactivity is on.
#[island]
pub fn LiveBadge() -> impl IntoView {
    let (live, set_live) = signal(false);
    Effect::new(move |_| set_live.set(true));
    view! {
        <span
            class="live-badge"
            data-hydrated=move || live.get().to_string()
            title=move || {
                if live.get() {
                    "Interactive: this page's controls are live"
                } else {
                    "Static: the page works without JavaScript"
                }
            }
        >
            {move || if live.get() { "Live" } else { "Static" }}
        </span>
    }
}

/// The navigation of a portal. Without JavaScript it is always shown; once
/// hydrated, small screens fold it behind a Menu button.
#[island]
pub fn NavMenu(children: Children) -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    let (open, set_open) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    view! {
        <div
            class="nav-menu"
            data-collapsible=move || hydrated.get().to_string()
            data-open=move || open.get().to_string()
        >
            <button
                type="button"
                class="nav-toggle"
                aria-expanded=move || open.get().to_string()
                hidden=move || !hydrated.get()
                on:click=move |_| set_open.update(|o| *o = !*o)
            >
                {move || if open.get() { "Close menu" } else { "Menu" }}
            </button>
            {children()}
        </div>
    }
}
