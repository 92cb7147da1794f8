//! Admin billing pages: customers, products, invoices, subscriptions. Lists
//! render on the server; changes are plain forms (post/redirect/get).

use leptos::prelude::*;

use crate::components::common::{load_error, FilterNav};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    billing::{
        billing_customer, billing_customers, billing_invoice, billing_invoices, billing_orders,
        billing_product, billing_products, billing_profile, billing_subscriptions, InvoiceDetail,
        InvoiceRow, SubscriptionRow,
    },
    components::layout::FieldError,
};

pub(crate) fn invoice_badge(status: &str) -> &'static str {
    match status {
        "paid" => "badge state-ok",
        "unpaid" => "badge state-degraded",
        _ => "badge state-down",
    }
}

pub(crate) fn sub_badge(status: &str) -> &'static str {
    match status {
        "active" => "badge state-ok",
        "pending" | "past_due" => "badge state-degraded",
        _ => "badge state-down",
    }
}

pub(crate) fn day(t: &str) -> String {
    t.get(..10).unwrap_or(t).to_string()
}

#[component]
pub fn AdminCustomers() -> impl IntoView {
    let q = use_query_map();
    let search = q.with_untracked(|m| m.get("q")).unwrap_or_default();
    let shown = search.clone();
    let list = Resource::new_blocking(move || search.clone(), |s| billing_customers(Some(s)));
    view! {
        <Title text="Customers"/>
        <h1>"Customers"</h1>
        <form method="get" action="/admin/customers" class="inline search" role="search">
            <label for="c-q" class="sr-only">"Search customers"</label>
            <input id="c-q" name="q" type="search" placeholder="Name or email" value=shown/>
            <button type="submit" class="button">"Search"</button>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="customers-table">"No customers here yet."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap">
                            <table class="table" data-testid="customers-table">
                                <thead><tr><th>"Name"</th><th>"Email"</th><th>"Country"</th><th>"Status"</th><th>"Since"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|c| view! {
                                        <tr>
                                            <td data-label="Name"><a href=format!("/admin/customers/{}", c.id)>{c.name.clone()}</a></td>
                                            <td data-label="Email">{c.email.clone()}</td>
                                            <td data-label="Country">{c.country.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td data-label="Status"><span class=if c.status == "active" { "badge state-ok" } else { "badge state-down" }>{c.status.clone()}</span></td>
                                            <td data-label="Since">{day(&c.created_at)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error("the customers", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-customer">
            <h2 id="new-customer">"New customer"</h2>
            <form method="post" action="/admin/customers" class="form grid-form">
                <div class="field"><label for="c-name">"Name"</label><input id="c-name" name="name" required=true value=crate::server::kept("name")/><FieldError field="name"/></div>
                <div class="field"><label for="c-email">"Email"</label><input id="c-email" name="email" type="email" required=true value=crate::server::kept("email")/><FieldError field="email"/></div>
                <div class="field"><label for="c-phone">"Phone"</label><input id="c-phone" name="phone" type="tel" value=crate::server::kept("phone")/></div>
                <AddressFields id="c" values=Address::kept()/>
                <div class="field"><label for="c-tax">"Tax id"</label><input id="c-tax" name="taxId" value=crate::server::kept("taxId")/></div>
                <button type="submit" class="button primary">"Add the customer"</button>
            </form>
        </section>
    }
}

/// Form values of an address ("" when unset).
#[derive(Clone, Default)]
pub struct Address {
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub state: String,
    pub country: String,
}

impl Address {
    /// What a refused form said (see [`crate::server::kept`]).
    pub fn kept() -> Address {
        let k = |n: &str| crate::server::kept(n).unwrap_or_default();
        Address {
            line1: k("line1"),
            line2: k("line2"),
            city: k("city"),
            postal_code: k("postalCode"),
            state: k("state"),
            country: k("country"),
        }
    }
}

/// The address fields of a form (`line1`, `line2`, `city`, `postalCode`,
/// `state`, `country`), ids prefixed with `id`, errors next to each.
#[component]
pub fn AddressFields(id: &'static str, values: Address) -> impl IntoView {
    view! {
        <div class="field"><label for=format!("{id}-line1")>"Address"</label><input id=format!("{id}-line1") name="line1" autocomplete="address-line1" value=values.line1/><FieldError field="address.line1"/></div>
        <div class="field"><label for=format!("{id}-line2")>"Address line 2"</label><input id=format!("{id}-line2") name="line2" autocomplete="address-line2" value=values.line2/></div>
        <div class="field"><label for=format!("{id}-city")>"City"</label><input id=format!("{id}-city") name="city" value=values.city/><FieldError field="address.city"/></div>
        <div class="field"><label for=format!("{id}-postal")>"Postal code"</label><input id=format!("{id}-postal") name="postalCode" value=values.postal_code/></div>
        <div class="field"><label for=format!("{id}-state")>"State or region"</label><input id=format!("{id}-state") name="state" value=values.state/></div>
        <div class="field"><label for=format!("{id}-country")>"Country (2 letters)"</label><input id=format!("{id}-country") name="country" maxlength="2" placeholder="US" value=values.country/><FieldError field="address.country"/></div>
    }
}

#[component]
pub fn AdminCustomer() -> impl IntoView {
    let id = use_params_map()
        .with_untracked(|p| p.get("id"))
        .unwrap_or_default();
    let (a, b) = (id.clone(), id.clone());
    let customer = Resource::new_blocking(move || a.clone(), billing_customer);
    let invoices = Resource::new_blocking(move || b.clone(), |c| billing_invoices(None, Some(c)));
    view! {
        <Title text="Customer"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (customer.await, invoices.await) {
                    (Ok(d), Ok(inv)) => {
                        let c = d.row.clone();
                        let address = Address {
                            line1: d.line1.clone(),
                            line2: d.line2.clone(),
                            city: d.city.clone(),
                            postal_code: d.postal_code.clone(),
                            state: d.state.clone(),
                            country: d.country.clone(),
                        };
                        view! {
                        <h1>{c.name.clone()}</h1>
                        <p class="muted">{format!("{} · {} · customer since {}", c.email, c.status, day(&c.created_at))}</p>
                        <h2>"Invoices"</h2>
                        <InvoicesTable rows=inv base="/admin/invoices"/>
                        <section class="card form-card" aria-labelledby="edit">
                            <h2 id="edit">"Details"</h2>
                            <form method="post" action=format!("/admin/customers/{}", c.id) class="form grid-form">
                                <div class="field"><label for="e-name">"Name"</label><input id="e-name" name="name" required=true value=c.name.clone()/><FieldError field="name"/></div>
                                <div class="field"><label for="e-email">"Email"</label><input id="e-email" name="email" type="email" required=true value=c.email.clone()/><FieldError field="email"/></div>
                                <div class="field"><label for="e-phone">"Phone"</label><input id="e-phone" name="phone" type="tel" value=d.phone.clone()/></div>
                                <AddressFields id="e" values=address/>
                                <div class="field"><label for="e-tax">"Tax id"</label><input id="e-tax" name="taxId" value=d.tax_id.clone()/></div>
                                <div class="field"><label for="e-status">"Status"</label>
                                    <select id="e-status" name="status">
                                        {["active", "suspended", "closed"].into_iter().map(|s| view! { <option value=s selected=c.status == s>{s}</option> }).collect_view()}
                                    </select><FieldError field="status"/></div>
                                <button type="submit" class="button primary">"Save the customer"</button>
                            </form>
                        </section>
                        <section class="card form-card" aria-labelledby="login">
                            <h2 id="login">"Portal login"</h2>
                            <p class="muted">{format!("Lets {} sign in at /login to order, pay and see their services.", c.email)}</p>
                            <form method="post" action=format!("/admin/customers/{}/login", c.id) class="form">
                                <div class="field"><label for="l-pw">"Password"</label><input id="l-pw" name="password" type="password" autocomplete="new-password" minlength="12" required=true/><FieldError field="password"/></div>
                                <button type="submit" class="button">"Create the login"</button>
                            </form>
                        </section>
                    }.into_any()},
                    (Err(e), _) | (_, Err(e)) => load_error("this customer", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AdminProducts() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| billing_products());
    let kinds = [
        "cloudpod",
        "wordpress",
        "container",
        "app",
        "domain",
        "email",
        "backup",
        "addon",
    ];
    view! {
        <Title text="Products"/>
        <h1>"Products"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="products-table">"No products yet: add the first below."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap">
                            <table class="table" data-testid="products-table">
                                <thead><tr><th>"Product"</th><th>"Type"</th><th>"SKU"</th><th>"Prices"</th><th>"Status"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|p| view! {
                                        <tr>
                                            <td data-label="Product"><a href=format!("/admin/products/{}", p.id)>{p.name.clone()}</a></td>
                                            <td data-label="Type">{p.kind.clone()}</td>
                                            <td data-label="SKU"><code>{p.sku.clone()}</code></td>
                                            <td data-label="Prices">{p.prices.iter().map(|x| format!("{} {}", x.label, x.cycle)).collect::<Vec<_>>().join(" · ")}</td>
                                            <td data-label="Status"><span class=if p.status == "active" { "badge state-ok" } else { "badge state-down" }>{p.status.clone()}</span></td>
                                            <td class="actions">
                                                <form method="post" action=format!("/admin/products/{}/{}", p.id, if p.status == "active" { "inactive" } else { "active" }) class="inline">
                                                    <button type="submit" class="button small" aria-label=format!("{} {}", if p.status == "active" { "Stop selling" } else { "Sell" }, p.name)>
                                                        {if p.status == "active" { "Stop selling" } else { "Sell again" }}
                                                    </button>
                                                </form>
                                            </td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error("the products", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-product">
            <h2 id="new-product">"New product"</h2>
            <form method="post" action="/admin/products" class="form grid-form">
                <div class="field"><label for="p-name">"Name"</label><input id="p-name" name="name" required=true/><FieldError field="name"/></div>
                <div class="field">
                    <label for="p-type">"Type"</label>
                    <select id="p-type" name="type">{kinds.into_iter().map(|k| view! { <option value=k>{k}</option> }).collect_view()}</select>
                </div>
                <div class="field"><label for="p-sku">"SKU"</label><input id="p-sku" name="sku" required=true/><FieldError field="sku"/></div>
                <div class="field"><label for="p-cur">"Currency"</label><input id="p-cur" name="currency" value="USD" maxlength="3" required=true/><FieldError field="billingCycles[0].currency"/></div>
                <div class="field"><label for="p-monthly">"Monthly price"</label><input id="p-monthly" name="monthly" inputmode="decimal" placeholder="9.99"/><FieldError field="billingCycles[0].price"/></div>
                <div class="field"><label for="p-yearly">"Yearly price"</label><input id="p-yearly" name="yearly" inputmode="decimal" placeholder="99.00"/></div>
                <div class="field"><label for="p-once">"One-time price"</label><input id="p-once" name="one_time" inputmode="decimal"/></div>
                <FieldError field="billingCycles"/>
                <button type="submit" class="button primary">"Add the product"</button>
            </form>
        </section>
    }
}

const CYCLE_LABELS: [(&str, &str); 7] = [
    ("monthly", "Monthly price"),
    ("quarterly", "Quarterly price"),
    ("semiannually", "Half-yearly price"),
    ("yearly", "Yearly price"),
    ("biennially", "Two-year price"),
    ("triennially", "Three-year price"),
    ("one_time", "One-time price"),
];

/// One product: its name, SKU and prices per cycle (one currency), editable.
#[component]
pub fn AdminProduct() -> impl IntoView {
    let id = use_params_map()
        .with_untracked(|p| p.get("id"))
        .unwrap_or_default();
    let product = Resource::new_blocking(move || id.clone(), billing_product);
    view! {
        <Title text="Product"/>
        <p><a href="/admin/products">"← Products"</a></p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match product.await {
                    Ok(d) => {
                        let p = d.row.clone();
                        view! {
                            <h1>{p.name.clone()}</h1>
                            <p class="muted">{format!("{} · {} · {}", p.kind, p.sku, p.status)}</p>
                            <section class="card form-card" aria-labelledby="edit-product">
                                <h2 id="edit-product">"Name and prices"</h2>
                                <p class="muted">"New prices apply to new orders and renewals from now on; subscriptions keep the price they were sold at until they renew or change plan. The form edits one currency's prices: write another currency to add or change its prices; the others are kept."</p>
                                <p data-testid="product-prices">{format!("All prices: {}", p.prices.iter().map(|x| format!("{} {}", x.label, x.cycle.replace('_', "-"))).collect::<Vec<_>>().join(" · "))}</p>
                                <form method="post" action=format!("/admin/products/{}", p.id) class="form grid-form">
                                    <div class="field"><label for="ep-name">"Name"</label><input id="ep-name" name="name" required=true value=p.name.clone()/><FieldError field="name"/></div>
                                    <div class="field"><label for="ep-sku">"SKU"</label><input id="ep-sku" name="sku" required=true value=p.sku.clone()/><FieldError field="sku"/></div>
                                    <div class="field"><label for="ep-cur">"Currency"</label><input id="ep-cur" name="currency" maxlength="3" required=true value=d.currency.clone()/><FieldError field="billingCycles[0].currency"/></div>
                                    {CYCLE_LABELS.into_iter().map(|(cycle, label)| {
                                        let value = d.amounts.iter().find(|(c, _)| c == cycle).map(|(_, a)| a.clone()).unwrap_or_default();
                                        view! { <div class="field"><label for=format!("ep-{cycle}")>{label}</label><input id=format!("ep-{cycle}") name=cycle inputmode="decimal" value=value/></div> }
                                    }).collect_view()}
                                    <FieldError field="billingCycles[0].price"/>
                                    <FieldError field="billingCycles"/>
                                    <button type="submit" class="button primary">"Save the product"</button>
                                </form>
                            </section>
                            {d.size.clone().map(|(template, cpu, memory, disk)| view! {
                                <section class="card form-card" aria-labelledby="pod-size">
                                    <h2 id="pod-size">"CloudPod size"</h2>
                                    <p class="muted">"What each CloudPod of this product is built from. Empty fields use the defaults: 1 CPU, 512 MB, 10 GB."</p>
                                    <form method="post" action=format!("/admin/products/{}/size", p.id) class="form grid-form">
                                        <div class="field"><label for="ps-template">"Template"</label>
                                            <select id="ps-template" name="template">
                                                {["debian", "busybox"].into_iter().map(|t| view! { <option value=t selected=template == t>{t}</option> }).collect_view()}
                                            </select><FieldError field="template"/></div>
                                        <div class="field"><label for="ps-cpu">"CPU cores"</label><input id="ps-cpu" name="cpu" inputmode="numeric" value=cpu/><FieldError field="cpu"/></div>
                                        <div class="field"><label for="ps-mem">"Memory (MB)"</label><input id="ps-mem" name="memoryMb" inputmode="numeric" value=memory/><FieldError field="memoryMb"/></div>
                                        <div class="field"><label for="ps-disk">"Disk (GB)"</label><input id="ps-disk" name="diskGb" inputmode="numeric" value=disk/><FieldError field="diskGb"/></div>
                                        <fieldset class="field">
                                            <legend>"Customers may"</legend>
                                            {["start", "stop", "reboot"].into_iter().map(|a| view! {
                                                <label class="check"><input type="checkbox" name="customerActions" value=a checked=d.customer_actions.iter().any(|x| x == a)/>{a}</label>
                                            }).collect_view()}
                                        </fieldset>
                                        <button type="submit" class="button primary">"Save the size"</button>
                                    </form>
                                </section>
                            })}
                        }.into_any()
                    }
                    Err(e) => load_error("this product", e),
                }
            })}
        </Suspense>
    }
}

/// Orders, newest first, with their invoice.
#[component]
pub fn AdminOrders() -> impl IntoView {
    let q = use_query_map();
    let status = q.with_untracked(|m| m.get("status")).unwrap_or_default();
    let current = status.clone();
    let list = Resource::new_blocking(move || status.clone(), |s| billing_orders(Some(s)));
    view! {
        <Title text="Orders"/>
        <h1>"Orders"</h1>
        <FilterNav base="/admin/orders" param="status" label="Filter orders" filters=vec![("", "All"), ("pending", "Pending"), ("paid", "Paid"), ("cancelled", "Cancelled")] current=current/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="orders-table">"No orders."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap">
                            <table class="table" data-testid="orders-table">
                                <thead><tr><th>"Placed"</th><th>"Customer"</th><th>"Items"</th><th>"Total"</th><th>"Status"</th><th>"Invoice"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|o| view! {
                                        <tr data-order=o.id.clone()>
                                            <td data-label="Placed">{day(&o.created_at)}</td>
                                            <td data-label="Customer"><a href=format!("/admin/customers/{}", o.customer_id)>{o.customer.clone()}</a></td>
                                            <td data-label="Items">{o.summary.clone()}{o.coupon.clone().map(|c| view! { <span class="muted">{format!(" · coupon {c}")}</span> })}</td>
                                            <td data-label="Total" class="num">{o.total.clone()}</td>
                                            <td data-label="Status"><span class=match o.status.as_str() { "paid" => "badge state-ok", "pending" => "badge state-degraded", _ => "badge state-down" }>{o.status.clone()}</span></td>
                                            <td data-label="Invoice">{match (o.invoice_id.clone(), o.invoice_number.clone()) {
                                                (Some(id), Some(n)) => view! { <a href=format!("/admin/invoices/{id}")>{n}</a> }.into_any(),
                                                _ => view! { <span class="muted">"—"</span> }.into_any(),
                                            }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error("the orders", e),
                }
            })}
        </Suspense>
    }
}

/// The seller's details printed on invoices.
#[component]
pub fn AdminBillingProfile() -> impl IntoView {
    let profile = Resource::new_blocking(|| (), |_| billing_profile());
    view! {
        <Title text="Billing profile"/>
        <h1>"Billing profile"</h1>
        <p class="muted">"Your company's name, address and tax id as new invoices print them. Invoices already issued keep the details they were issued with."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match profile.await {
                    Ok(p) => {
                        let address = Address {
                            line1: p.line1.clone(),
                            line2: p.line2.clone(),
                            city: p.city.clone(),
                            postal_code: p.postal_code.clone(),
                            state: p.state.clone(),
                            country: p.country.clone(),
                        };
                        view! {
                            <section class="card form-card">
                                <form method="post" action="/admin/billing-profile" class="form grid-form">
                                    <div class="field"><label for="bp-name">"Legal name"</label><input id="bp-name" name="legalName" required=true value=p.legal_name.clone()/><FieldError field="legalName"/></div>
                                    <AddressFields id="bp" values=address/>
                                    <div class="field"><label for="bp-tax">"Tax id"</label><input id="bp-tax" name="taxId" value=p.tax_id.clone()/><FieldError field="taxId"/></div>
                                    <div class="field"><label for="bp-email">"Billing email"</label><input id="bp-email" name="email" type="email" value=p.email.clone()/><FieldError field="email"/></div>
                                    <button type="submit" class="button primary">"Save the billing profile"</button>
                                </form>
                            </section>
                        }.into_any()
                    }
                    Err(e) => load_error("the billing profile", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn InvoicesTable(rows: Vec<InvoiceRow>, base: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted" data-testid="invoices-table">"No invoices."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="invoices-table">
                <thead><tr><th>"Invoice"</th><th>"Customer"</th><th>"Total"</th><th>"Due"</th><th>"Status"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|i| view! {
                        <tr data-invoice=i.id.clone()>
                            <td data-label="Invoice"><a href=format!("{base}/{}", i.id)>{i.number.clone()}</a></td>
                            <td data-label="Customer">{i.customer_name.clone()}</td>
                            <td data-label="Total">{i.total.clone()}</td>
                            <td data-label="Due">{day(&i.due_at)}</td>
                            <td data-label="Status"><span class=invoice_badge(&i.status)>{i.status.clone()}</span></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn AdminInvoices() -> impl IntoView {
    let q = use_query_map();
    let status = q.with_untracked(|m| m.get("status")).unwrap_or_default();
    let shown = status.clone();
    let list = Resource::new_blocking(move || status.clone(), |s| billing_invoices(Some(s), None));
    let filters = [
        ("", "All"),
        ("unpaid", "Unpaid"),
        ("paid", "Paid"),
        ("cancelled", "Cancelled"),
        ("refunded", "Refunded"),
    ];
    view! {
        <Title text="Invoices"/>
        <h1>"Invoices"</h1>
        <FilterNav base="/admin/invoices" param="status" label="Filter invoices" filters=filters.to_vec() current=shown.clone()/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) => view! { <InvoicesTable rows base="/admin/invoices"/> }.into_any(),
                    Err(e) => load_error("the invoices", e),
                }
            })}
        </Suspense>
    }
}

/// The invoice as a document: print-ready (the print stylesheet hides the
/// navigation and actions).
#[component]
pub fn InvoiceDocument(inv: InvoiceDetail) -> impl IntoView {
    let r = inv.row.clone();
    view! {
        <article class="invoice card" data-testid="invoice">
            <header class="invoice-head">
                <div>
                    <p class="muted">"Invoice"</p>
                    <h1 data-testid="invoice-number">{r.number.clone()}</h1>
                    <p><span class=invoice_badge(&r.status) data-testid="invoice-status">{r.status.clone()}</span></p>
                </div>
                <div class="invoice-meta">
                    <div class="seller" data-testid="invoice-seller">
                        {inv.seller.iter().enumerate().map(|(n, l)| if n == 0 {
                            view! { <div><strong>{l.clone()}</strong></div> }.into_any()
                        } else {
                            view! { <div>{l.clone()}</div> }.into_any()
                        }).collect_view()}
                    </div>
                    <p>{format!("Issued {}", day(&r.created_at))}</p>
                    <p>{format!("Due {}", day(&r.due_at))}</p>
                    {inv.paid_at.clone().map(|p| view! { <p>{format!("Paid {}", day(&p))}</p> })}
                    {inv.period.clone().map(|p| view! { <p>{format!("Period {p}")}</p> })}
                </div>
            </header>
            {inv.charge_error.clone().map(|e| view! {
                <p class="card attention" data-testid="charge-error">{format!("The automatic charge of the saved card failed: {e}")}</p>
            })}
            <section class="bill-to">
                <h2>"Bill to"</h2>
                {inv.bill_to.iter().filter(|l| !l.trim().is_empty()).map(|l| view! { <div>{l.clone()}</div> }).collect_view()}
            </section>
            <div class="table-wrap">
                <table class="table invoice-lines">
                    <thead><tr><th>"Description"</th><th class="num">"Qty"</th><th class="num">"Unit"</th><th class="num">"Discount"</th><th class="num">"Tax"</th><th class="num">"Total"</th></tr></thead>
                    <tbody>
                        {inv.items.iter().map(|l| view! {
                            <tr>
                                <td data-label="Description">{l.description.clone()}</td>
                                <td data-label="Qty" class="num">{l.quantity}</td>
                                <td data-label="Unit" class="num">{l.unit_price.clone()}</td>
                                <td data-label="Discount" class="num">{l.discount.clone()}</td>
                                <td data-label="Tax" class="num">{l.tax.clone()}</td>
                                <td data-label="Total" class="num">{l.total.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <table class="table kv totals">
                <tbody>
                    <tr><th scope="row">"Subtotal"</th><td class="num">{inv.subtotal.clone()}</td></tr>
                    {inv.discount.clone().map(|d| view! { <tr><th scope="row">"Discount"</th><td class="num">{format!("−{d}")}</td></tr> })}
                    <tr><th scope="row">{if inv.tax_included { format!("{} (included)", inv.tax_label) } else { inv.tax_label.clone() }}</th><td class="num">{inv.tax.clone()}</td></tr>
                    <tr class="grand"><th scope="row">"Total"</th><td class="num" data-testid="invoice-total">{r.total.clone()}</td></tr>
                    {inv.credit.clone().map(|c| view! { <tr><th scope="row">"Credit applied"</th><td class="num">{format!("−{c}")}</td></tr> })}
                    <tr><th scope="row">"Amount due"</th><td class="num" data-testid="invoice-due">{if r.status == "unpaid" { r.amount_due.clone() } else { "—".into() }}</td></tr>
                </tbody>
            </table>
        </article>
    }
}

#[component]
pub fn AdminInvoice() -> impl IntoView {
    let id = use_params_map()
        .with_untracked(|p| p.get("id"))
        .unwrap_or_default();
    let inv = Resource::new_blocking(move || id.clone(), billing_invoice);
    view! {
        <Title text="Invoice"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match inv.await {
                    Ok(inv) => {
                        let (id, status) = (inv.row.id.clone(), inv.row.status.clone());
                        view! {
                            <div class="actions-row no-print">
                                {(status == "unpaid").then(|| view! {
                                    <form method="post" action=format!("/admin/invoices/{id}/paid") class="inline">
                                        <button type="submit" class="button primary">"Mark paid"</button>
                                    </form>
                                    <form method="post" action=format!("/admin/invoices/{id}/cancelled") class="inline">
                                        <button type="submit" class="button danger">"Cancel invoice"</button>
                                    </form>
                                })}
                                {(status == "paid").then(|| view! {
                                    <form method="post" action=format!("/admin/invoices/{id}/refunded") class="inline">
                                        <button type="submit" class="button danger">"Record refund"</button>
                                    </form>
                                })}
                                <a class="button" href=format!("/admin/customers/{}", inv.row.customer_id)>"Customer"</a>
                            </div>
                            <InvoiceDocument inv/>
                        }.into_any()
                    }
                    Err(e) => load_error("this invoice", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn SubscriptionsTable(rows: Vec<SubscriptionRow>, cancel_base: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted" data-testid="subscriptions-table">"No subscriptions."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="subscriptions-table">
                <thead><tr><th>"Service"</th><th>"Price"</th><th>"Status"</th><th>"Renews"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|s| {
                        let live = matches!(s.status.as_str(), "active" | "past_due" | "suspended" | "pending");
                        view! {
                            <tr data-subscription=s.id.clone()>
                                <td data-label="Service">{s.product.clone()}<span class="muted">{format!(" · {}", s.kind)}</span></td>
                                <td data-label="Price">{format!("{} {}", s.price, s.cycle.replace('_', "-"))}</td>
                                <td data-label="Status"><span class=sub_badge(&s.status)>{s.status.clone()}</span>
                                    {s.cancel_at_period_end.then_some(" · ends at period end")}</td>
                                <td data-label="Renews">{s.renews_at.as_deref().map(day).unwrap_or_else(|| "—".into())}</td>
                                <td class="actions">
                                    {(!s.choices.is_empty()).then(|| view! {
                                        <form method="post" action=format!("{cancel_base}/{}/change", s.id) class="inline change-plan">
                                            <label for=format!("plan-{}", s.id) class="sr-only">{format!("New plan for {}", s.product)}</label>
                                            <select id=format!("plan-{}", s.id) name="productId">
                                                {s.choices.iter().map(|(id, label)| view! { <option value=id.clone()>{label.clone()}</option> }).collect_view()}
                                            </select>
                                            <button type="submit" class="button small">"Change plan"</button>
                                        </form>
                                    })}
                                    {(live && !s.cancel_at_period_end).then(|| view! {
                                        <form method="post" action=format!("{cancel_base}/{}/cancel", s.id) class="inline">
                                            <button type="submit" class="button small">"Cancel at period end"</button>
                                        </form>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn AdminSubscriptions() -> impl IntoView {
    let q = use_query_map();
    let status = q.with_untracked(|m| m.get("status")).unwrap_or_default();
    let shown = status.clone();
    let list = Resource::new_blocking(move || status.clone(), |s| billing_subscriptions(Some(s)));
    let filters = [
        ("", "All"),
        ("active", "Active"),
        ("past_due", "Past due"),
        ("suspended", "Suspended"),
        ("pending", "Pending"),
        ("cancelled", "Cancelled"),
    ];
    view! {
        <Title text="Subscriptions"/>
        <h1>"Subscriptions"</h1>
        <FilterNav base="/admin/subscriptions" param="status" label="Filter subscriptions" filters=filters.to_vec() current=shown.clone()/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) => view! { <SubscriptionsTable rows cancel_base="/admin/subscriptions"/> }.into_any(),
                    Err(e) => load_error("the subscriptions", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AdminCoupons() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| crate::billing::billing_coupons());
    view! {
        <Title text="Coupons"/>
        <h1>"Coupons"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="coupons-table">"No coupons yet."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap">
                            <table class="table" data-testid="coupons-table">
                                <thead><tr><th>"Code"</th><th>"Discount"</th><th>"Applies"</th><th>"Used"</th><th>"Expires"</th><th>"State"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|c| {
                                        let (action, label) = if c.active { ("disable", "Disable") } else { ("enable", "Enable") };
                                        view! {
                                            <tr data-coupon=c.code.clone()>
                                                <td data-label="Code"><code>{c.code.clone()}</code></td>
                                                <td data-label="Discount">{c.effect.clone()}</td>
                                                <td data-label="Applies">{if c.duration == "recurring" { "every renewal" } else { "first invoice" }}</td>
                                                <td data-label="Used">{c.used.clone()}</td>
                                                <td data-label="Expires">{c.expires_at.as_deref().map(day).unwrap_or_else(|| "never".into())}</td>
                                                <td data-label="State"><span class=if c.active { "badge state-ok" } else { "badge state-down" }>{if c.active { "active" } else { "off" }}</span></td>
                                                <td class="actions">
                                                    <form method="post" action=format!("/admin/coupons/{}/{action}", c.id) class="inline">
                                                        <button type="submit" class="button small">{label}</button>
                                                    </form>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error("the coupons", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-coupon">
            <h2 id="new-coupon">"New coupon"</h2>
            <form method="post" action="/admin/coupons" class="form grid-form">
                <div class="field"><label for="k-code">"Code"</label><input id="k-code" name="code" required=true placeholder="WELCOME10"/><FieldError field="code"/></div>
                <div class="field">
                    <label for="k-kind">"Kind"</label>
                    <select id="k-kind" name="kind"><option value="percent">"Percent off"</option><option value="fixed">"Amount off"</option></select>
                    <FieldError field="kind"/>
                </div>
                <div class="field"><label for="k-percent">"Percent"</label><input id="k-percent" name="percent" inputmode="decimal" placeholder="10"/><FieldError field="percent"/></div>
                <div class="field"><label for="k-amount">"Amount"</label><input id="k-amount" name="amount" inputmode="decimal" placeholder="5.00"/><FieldError field="amount"/></div>
                <div class="field"><label for="k-currency">"Currency (for amounts)"</label><input id="k-currency" name="currency" maxlength="3" placeholder="USD"/><FieldError field="currency"/></div>
                <div class="field">
                    <label for="k-duration">"Applies to"</label>
                    <select id="k-duration" name="duration"><option value="once">"The first invoice"</option><option value="recurring">"Every renewal"</option></select>
                </div>
                <div class="field"><label for="k-expires">"Expires"</label><input id="k-expires" name="expiresAt" type="date"/><FieldError field="expiresAt"/></div>
                <div class="field"><label for="k-max">"Most uses"</label><input id="k-max" name="maxRedemptions" type="number" min="1"/><FieldError field="maxRedemptions"/></div>
                <button type="submit" class="button primary">"Add the coupon"</button>
            </form>
        </section>
    }
}

#[component]
pub fn AdminTaxRates() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| crate::billing::billing_tax_rates());
    view! {
        <Title text="Tax rates"/>
        <h1>"Tax rates"</h1>
        <p class="muted">"An invoice uses the rate in force on its date for the customer's country, or region when one is set. A new rate from a date applies to invoices from that date on."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="tax-table">"No tax rates: invoices carry no tax."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap">
                            <table class="table" data-testid="tax-table">
                                <thead><tr><th>"Name"</th><th>"Where"</th><th>"Rate"</th><th>"Prices"</th><th>"Valid"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|r| view! {
                                        <tr>
                                            <td data-label="Name">{r.name.clone()}</td>
                                            <td data-label="Where">{r.place.clone()}</td>
                                            <td data-label="Rate">{r.rate.clone()}</td>
                                            <td data-label="Prices">{if r.inclusive { "include it" } else { "plus tax" }}</td>
                                            <td data-label="Valid">{r.valid.clone()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error("the tax rates", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="new-rate">
            <h2 id="new-rate">"New tax rate"</h2>
            <form method="post" action="/admin/tax-rates" class="form grid-form">
                <div class="field"><label for="t-name">"Name"</label><input id="t-name" name="name" required=true placeholder="VAT"/><FieldError field="name"/></div>
                <div class="field"><label for="t-country">"Country (2 letters)"</label><input id="t-country" name="country" maxlength="2" required=true/><FieldError field="country"/></div>
                <div class="field"><label for="t-region">"Region (optional)"</label><input id="t-region" name="region" placeholder="FL"/></div>
                <div class="field"><label for="t-rate">"Rate %"</label><input id="t-rate" name="rate" inputmode="decimal" required=true placeholder="19"/><FieldError field="rate"/></div>
                <div class="field">
                    <label for="t-incl">"Prices"</label>
                    <select id="t-incl" name="inclusive"><option value="false">"Plus tax"</option><option value="true">"Include tax"</option></select>
                </div>
                <div class="field"><label for="t-from">"Valid from"</label><input id="t-from" name="validFrom" type="date"/><FieldError field="validFrom"/></div>
                <div class="field"><label for="t-to">"Valid until"</label><input id="t-to" name="validTo" type="date"/><FieldError field="validTo"/></div>
                <button type="submit" class="button primary">"Add the rate"</button>
            </form>
        </section>
    }
}
