//! `/login`: one sign-in form for operators and customers. A plain form
//! (POST /login): it works without JavaScript; the server answers with a
//! redirect to the right portal, or back here with the reason.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The message for an `error` code the server sent back.
fn error_text(code: &str, retry: Option<String>) -> String {
    match code {
        "invalid_credentials" => "Wrong email or password.".to_string(),
        "too_many_attempts" => format!(
            "Too many failed sign-ins. Try again in {} seconds.",
            retry.unwrap_or_else(|| "a few".into())
        ),
        "email_required" => "Enter your email address.".to_string(),
        "password_required" => "Enter your password.".to_string(),
        "session_expired" => "Your session has ended. Sign in again.".to_string(),
        "forbidden_origin" => {
            "That sign-in did not come from this site. Try again here.".to_string()
        }
        _ => "Sign-in failed. Try again.".to_string(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let q = use_query_map();
    let get = move |k: &str| q.with_untracked(|m| m.get(k));
    let error = get("error");
    let email = get("email").unwrap_or_default();
    let next = get("next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_default();
    let signed_out = get("signed_out").is_some();
    let field_error = error
        .clone()
        .filter(|e| e == "email_required" || e == "password_required");
    let form_error = error
        .clone()
        .filter(|e| field_error.as_deref() != Some(e.as_str()))
        .map(|e| error_text(&e, get("retry_after")));
    let email_err = (field_error.as_deref() == Some("email_required"))
        .then(|| error_text("email_required", None));
    let password_err = (field_error.as_deref() == Some("password_required"))
        .then(|| error_text("password_required", None));
    view! {
        <Title text="Sign in"/>
        <div class="center-page">
            <section class="card auth-card" aria-labelledby="signin-title">
                <h1 id="signin-title">"Sign in to Mooring"</h1>
                <p class="muted">"Operators land in the admin portal, customers in their portal."</p>
                {signed_out.then(|| view! { <p class="notice" role="status">"You are signed out."</p> })}
                {form_error.map(|m| view! { <p class="error form-error" role="alert">{m}</p> })}
                <form method="post" action="/login" class="form">
                    <input type="hidden" name="next" value=next/>
                    <div class="field">
                        <label for="email">"Email"</label>
                        <input id="email" name="email" type="email" autocomplete="username" required=true value=email
                            aria-invalid=email_err.is_some().then_some("true") aria-describedby=email_err.is_some().then_some("email-error")/>
                        {email_err.map(|m| view! { <p class="error field-error" id="email-error">{m}</p> })}
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <input id="password" name="password" type="password" autocomplete="current-password" required=true
                            aria-invalid=password_err.is_some().then_some("true") aria-describedby=password_err.is_some().then_some("password-error")/>
                        {password_err.map(|m| view! { <p class="error field-error" id="password-error">{m}</p> })}
                    </div>
                    <button type="submit" class="button primary">"Sign in"</button>
                </form>
            </section>
        </div>
    }
}
