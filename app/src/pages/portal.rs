//! `/portal`: the customer portal.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn PortalOverview() -> impl IntoView {
    view! {
        <Title text="Overview"/>
        <h1>"Overview"</h1>
        <section class="card">
            <h2>"Your services"</h2>
            <p class="muted">"You have no services yet."</p>
        </section>
    }
}
