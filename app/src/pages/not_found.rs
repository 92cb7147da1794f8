//! The page for any address no route knows; answers with status 404.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <div class="center-page">
            <section class="card">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
                <p><a class="button" href="/">"Go to the start page"</a></p>
            </section>
        </div>
    }
}
