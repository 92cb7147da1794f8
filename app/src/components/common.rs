//! Small pieces every list page uses.

use leptos::prelude::*;

/// A list's failure, said plainly: "Could not load {what}: {why}".
pub fn load_error(what: &str, e: ServerFnError) -> AnyView {
    let msg = e.to_string();
    let msg = msg
        .trim_start_matches("error running server function: ")
        .to_string();
    view! { <p class="error" role="alert">{format!("Could not load {what}: {msg}")}</p> }.into_any()
}

/// Filter links of a list page: `base?param=value`, the current one marked.
#[component]
pub fn FilterNav(
    base: &'static str,
    param: &'static str,
    label: &'static str,
    filters: Vec<(&'static str, &'static str)>,
    current: String,
) -> impl IntoView {
    view! {
        <nav class="filters" aria-label=label>
            {filters.into_iter().map(|(v, text)| {
                let href = if v.is_empty() { base.to_string() } else { format!("{base}?{param}={v}") };
                let here = (current == v).then_some("page");
                view! { <a href=href class="filter" aria-current=here>{text}</a> }
            }).collect_view()}
        </nav>
    }
}
