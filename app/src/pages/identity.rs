//! Admin pages for accounts and credentials: users, API keys, access
//! tokens, and one's own profile. Lists render on the server; every change is
//! a plain form to the server, which redirects back with a one-time message
//! (new secrets are shown once, from the server-side session, never in a URL).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{common::load_error, layout::FieldError};
use crate::server::{
    admin_api_keys, admin_tenants, admin_users, my_tokens, CredentialRow, TenantRow, UserRow,
};

/// When, for tables: the date and minute, or a word.
fn when(t: &Option<String>, none: &'static str) -> String {
    t.as_deref()
        .map(short_time)
        .unwrap_or_else(|| none.to_string())
}

fn short_time(t: &str) -> String {
    t.get(..16)
        .map(|s| s.replace('T', " "))
        .unwrap_or_else(|| t.to_string())
}

#[component]
fn UsersTable(users: Vec<UserRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="users-table">
                <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Status"</th><th>"Since"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {users.into_iter().map(|u| {
                        let toggle = if u.status == "active" { "disable" } else { "enable" };
                        let toggle_label = if u.status == "active" { "Disable" } else { "Enable" };
                        view! {
                            <tr>
                                <td data-label="Name">{u.name.clone()}</td>
                                <td data-label="Email">{u.email.clone()}</td>
                                <td data-label="Role">{u.role.clone()}</td>
                                <td data-label="Status"><span class=format!("badge state-{}", if u.status == "active" { "ok" } else { "down" })>{u.status.clone()}</span></td>
                                <td data-label="Since">{short_time(&u.created_at)}</td>
                                <td class="actions">
                                    <form method="post" action=format!("/admin/users/{}/role", u.id) class="inline">
                                        <label class="sr-only" for=format!("role-{}", u.id)>{format!("Role of {}", u.email)}</label>
                                        <select id=format!("role-{}", u.id) name="role">
                                            <option value="staff" selected=u.role == "staff">"staff"</option>
                                            <option value="admin" selected=u.role == "admin">"admin"</option>
                                        </select>
                                        <button type="submit" class="button small" aria-label=format!("Change the role of {}", u.email)>"Set role"</button>
                                    </form>
                                    <form method="post" action=format!("/admin/users/{}/{toggle}", u.id) class="inline">
                                        <button type="submit" class="button small" aria-label=format!("{toggle_label} {}", u.email)>{toggle_label}</button>
                                    </form>
                                    <form method="post" action=format!("/admin/users/{}/end-sessions", u.id) class="inline">
                                        <button type="submit" class="button small" aria-label=format!("End the sessions of {}", u.email)>"End sessions"</button>
                                    </form>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn AdminUsers() -> impl IntoView {
    let users = Resource::new_blocking(|| (), |_| admin_users());
    view! {
        <Title text="Users"/>
        <h1>"Users"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <UsersTable users=list/> }.into_any(),
                    Err(e) => load_error("this list", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-user">
            <h2 id="new-user">"New operator"</h2>
            <form method="post" action="/admin/users" class="form grid-form">
                <div class="field"><label for="u-name">"Name"</label><input id="u-name" name="name" required=true/><FieldError field="name"/></div>
                <div class="field"><label for="u-email">"Email"</label><input id="u-email" name="email" type="email" required=true/><FieldError field="email"/></div>
                <div class="field">
                    <label for="u-role">"Role"</label>
                    <select id="u-role" name="role">
                        <option value="staff">"Staff"</option>
                        <option value="admin">"Admin"</option>
                    </select>
                </div>
                <div class="field"><label for="u-password">"Password"</label><input id="u-password" name="password" type="password" autocomplete="new-password" minlength="12" required=true/><FieldError field="password"/></div>
                <button type="submit" class="button primary">"Create the account"</button>
            </form>
        </section>
    }
}

#[component]
fn CredentialsTable(
    rows: Vec<CredentialRow>,
    revoke_base: &'static str,
    testid: &'static str,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted" data-testid=testid>"None yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid=testid>
                <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Created"</th><th>"Expires"</th><th>"Last used"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr>
                            <td data-label="Name">{r.name.clone()}</td>
                            <td data-label="Kind">{r.detail.clone()}</td>
                            <td data-label="Created">{short_time(&r.created_at)}</td>
                            <td data-label="Expires">{when(&r.expires_at, "never")}</td>
                            <td data-label="Last used">{when(&r.last_used_at, "never")}</td>
                            <td class="actions">
                                <form method="post" action=format!("{revoke_base}/{}/revoke", r.id) class="inline">
                                    <button type="submit" class="button small danger" aria-label=format!("Revoke {}", r.name)>"Revoke"</button>
                                </form>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn AdminApiKeys() -> impl IntoView {
    let keys = Resource::new_blocking(|| (), |_| admin_api_keys());
    view! {
        <Title text="API keys"/>
        <h1>"API keys"</h1>
        <p class="muted">"Keys for the container-sites API: send one as the " <code>"X-API-Key"</code> " header. Only its hash is kept."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(rows) => view! { <CredentialsTable rows revoke_base="/admin/api-keys" testid="api-keys-table"/> }.into_any(),
                    Err(e) => load_error("this list", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-key">
            <h2 id="new-key">"New API key"</h2>
            <form method="post" action="/admin/api-keys" class="form grid-form">
                <div class="field"><label for="k-name">"Name"</label><input id="k-name" name="name" required=true maxlength="100" placeholder="CI deploys"/><FieldError field="name"/></div>
                <button type="submit" class="button primary">"Create the key"</button>
            </form>
        </section>
    }
}

#[component]
pub fn AdminTokens() -> impl IntoView {
    let tokens = Resource::new_blocking(|| (), |_| my_tokens());
    view! {
        <Title text="Access tokens"/>
        <h1>"Access tokens"</h1>
        <p class="muted">"For scripts and CI: send one as " <code>"Authorization: Bearer …"</code> ". " <strong>"read"</strong> " only reads, " <strong>"deploy"</strong> " also deploys and rolls back, " <strong>"admin"</strong> " does everything your account may."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(rows) => view! { <CredentialsTable rows revoke_base="/admin/tokens" testid="tokens-table"/> }.into_any(),
                    Err(e) => load_error("this list", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-token">
            <h2 id="new-token">"New token"</h2>
            <form method="post" action="/admin/tokens" class="form grid-form">
                <div class="field"><label for="t-name">"Name"</label><input id="t-name" name="name" required=true maxlength="100"/><FieldError field="name"/></div>
                <div class="field">
                    <label for="t-kind">"Kind"</label>
                    <select id="t-kind" name="kind">
                        <option value="personal">"Personal (acts as you)"</option>
                        <option value="service">"Service (belongs to the tenant)"</option>
                    </select>
                </div>
                <fieldset class="field">
                    <legend>"Scopes"</legend>
                    <label class="check"><input type="checkbox" name="scope" value="read" checked=true/>" read"</label>
                    <label class="check"><input type="checkbox" name="scope" value="deploy"/>" deploy"</label>
                    <label class="check"><input type="checkbox" name="scope" value="admin"/>" admin"</label>
                    <FieldError field="scopes"/>
                </fieldset>
                <div class="field"><label for="t-exp">"Expires on (optional)"</label><input id="t-exp" name="expires_on" type="date"/><FieldError field="expires_on"/></div>
                <button type="submit" class="button primary">"Create the token"</button>
            </form>
        </section>
    }
}

#[component]
pub fn Profile() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let me = crate::server::current_user();
    #[cfg(not(feature = "ssr"))]
    let me: Option<crate::server::PortalUser> = None;
    view! {
        <Title text="Profile"/>
        <h1>"Profile"</h1>
        {me.map(|u| view! {
            <table class="table kv">
                <tbody>
                    <tr><th scope="row">"Name"</th><td>{u.name}</td></tr>
                    <tr><th scope="row">"Email"</th><td>{u.email}</td></tr>
                    <tr><th scope="row">"Role"</th><td>{u.role}</td></tr>
                </tbody>
            </table>
        })}
        <section class="card form-card" aria-labelledby="change-password">
            <h2 id="change-password">"Change your password"</h2>
            <p class="muted">"Every other device signed in to your account is signed out."</p>
            <form method="post" action="/admin/profile/password" class="form">
                <div class="field"><label for="p-current">"Current password"</label><input id="p-current" name="current" type="password" autocomplete="current-password" required=true/><FieldError field="current"/></div>
                <div class="field"><label for="p-new">"New password"</label><input id="p-new" name="password" type="password" autocomplete="new-password" minlength="12" required=true/><FieldError field="password"/></div>
                <div class="field"><label for="p-confirm">"New password, again"</label><input id="p-confirm" name="confirm" type="password" autocomplete="new-password" minlength="12" required=true/><FieldError field="confirm"/></div>
                <button type="submit" class="button primary">"Change the password"</button>
            </form>
        </section>
    }
}

#[component]
pub fn AdminTenants() -> impl IntoView {
    let tenants = Resource::new_blocking(|| (), |_| admin_tenants());
    view! {
        <Title text="Tenants"/>
        <h1>"Tenants"</h1>
        <p class="muted">"Hosting brands on this installation. Each has its own customers, products, services and operators."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tenants.await {
                    Ok(rows) => view! { <TenantsTable rows/> }.into_any(),
                    Err(e) => load_error("this list", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-tenant">
            <h2 id="new-tenant">"New tenant"</h2>
            <form method="post" action="/admin/tenants" class="form grid-form">
                <div class="field"><label for="t-name">"Name"</label><input id="t-name" name="name" required=true maxlength="200"/><FieldError field="name"/></div>
                <button type="submit" class="button primary">"Create the tenant"</button>
            </form>
        </section>
    }
}

#[component]
fn TenantsTable(rows: Vec<TenantRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="tenants-table">
                <thead><tr><th>"Name"</th><th>"Slug"</th><th>"Status"</th><th>"Since"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|t| view! {
                        <tr>
                            <td data-label="Name">{t.name.clone()}</td>
                            <td data-label="Slug"><code>{t.slug.clone()}</code></td>
                            <td data-label="Status">{t.status.clone()}</td>
                            <td data-label="Since">{short_time(&t.created_at)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
