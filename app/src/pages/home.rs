//! `/`: where an unsigned visitor lands.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::islands::LiveBadge;

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <Title text=""/>
        <div class="center-page">
            <section class="card hero">
                <h1>"Mooring"</h1>
                <p class="lead">"Hosting, billing and operations in one place."</p>
                <p>
                    <a class="button primary" href="/login">"Sign in"</a>
                </p>
                <p class="muted small">"Interactivity: " <LiveBadge/></p>
            </section>
        </div>
    }
}
