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
    let reset_done = get("reset").is_some();
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
                {reset_done.then(|| view! { <p class="notice" role="status">"Your password is changed. Sign in with it."</p> })}
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
                <p class="small"><a href="/forgot-password">"Forgot your password?"</a></p>
            </section>
        </div>
    }
}

/// `/forgot-password`: ask for a reset link by email.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let q = use_query_map();
    let sent = q.with_untracked(|m| m.get("sent")).is_some();
    let error = q
        .with_untracked(|m| m.get("error"))
        .map(|e| error_text(&e, None));
    view! {
        <Title text="Reset your password"/>
        <div class="center-page">
            <section class="card auth-card" aria-labelledby="forgot-title">
                <h1 id="forgot-title">"Reset your password"</h1>
                {if sent {
                    view! {
                        <p class="notice" role="status">
                            "If an account has that address, a link to choose a new password is on its way. It works for an hour."
                        </p>
                    }.into_any()
                } else {
                    view! {
                        <p class="muted">"We will email you a link to choose a new password."</p>
                        {error.map(|m| view! { <p class="error form-error" role="alert">{m}</p> })}
                        <form method="post" action="/forgot-password" class="form">
                            <div class="field">
                                <label for="email">"Email"</label>
                                <input id="email" name="email" type="email" autocomplete="username" required=true/>
                            </div>
                            <button type="submit" class="button primary">"Send the link"</button>
                        </form>
                    }.into_any()
                }}
                <p class="small"><a href="/login">"Back to sign in"</a></p>
            </section>
        </div>
    }
}

/// `/reset-password?token=…`: choose a new password with the emailed link.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let q = use_query_map();
    let token = q.with_untracked(|m| m.get("token")).unwrap_or_default();
    let error = q
        .with_untracked(|m| m.get("error"))
        .map(|e| error_text(&e, None));
    view! {
        <Title text="Choose a new password"/>
        <div class="center-page">
            <section class="card auth-card" aria-labelledby="reset-title">
                <h1 id="reset-title">"Choose a new password"</h1>
                <p class="muted">"At least 12 characters. Every device signed in to your account will be signed out."</p>
                {error.map(|m| view! { <p class="error form-error" role="alert">{m}</p> })}
                <form method="post" action="/reset-password" class="form">
                    <input type="hidden" name="token" value=token/>
                    <div class="field">
                        <label for="password">"New password"</label>
                        <input id="password" name="password" type="password" autocomplete="new-password" required=true minlength="12"/>
                    </div>
                    <div class="field">
                        <label for="confirm">"New password, again"</label>
                        <input id="confirm" name="confirm" type="password" autocomplete="new-password" required=true minlength="12"/>
                    </div>
                    <button type="submit" class="button primary">"Set the password"</button>
                </form>
            </section>
        </div>
    }
}
