//! `/login`: one sign-in form for operators and customers.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <Title text="Sign in"/>
        <div class="center-page">
            <section class="card auth-card" aria-labelledby="signin-title">
                <h1 id="signin-title">"Sign in to Mooring"</h1>
                <p class="muted">"Operators land in the admin portal, customers in their portal."</p>
                <form method="post" action="/login" class="form" novalidate=false>
                    <div class="field">
                        <label for="email">"Email"</label>
                        <input id="email" name="email" type="email" autocomplete="username" required=true/>
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <input id="password" name="password" type="password" autocomplete="current-password" required=true minlength="12"/>
                    </div>
                    <button type="submit" class="button primary">"Sign in"</button>
                </form>
            </section>
        </div>
    }
}
