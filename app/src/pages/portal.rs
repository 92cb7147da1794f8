//! `/portal`: the customer portal: services, ordering, invoices, paying.

use leptos::prelude::*;

use crate::components::common::load_error;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    billing::{
        billing_invoice, billing_invoices, billing_payment_mode, billing_products,
        billing_subscriptions, ProductRow,
    },
    components::layout::FieldError,
    pages::billing_admin::{InvoiceDocument, InvoicesTable, SubscriptionsTable},
};

#[component]
pub fn PortalOverview() -> impl IntoView {
    let subs = Resource::new_blocking(|| (), |_| billing_subscriptions(None));
    let unpaid = Resource::new_blocking(|| (), |_| billing_invoices(Some("unpaid".into()), None));
    view! {
        <Title text="Overview"/>
        <h1>"Overview"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (subs.await, unpaid.await) {
                    (Ok(s), Ok(u)) => view! {
                        {(!u.is_empty()).then(|| view! {
                            <section class="card attention" aria-labelledby="to-pay">
                                <h2 id="to-pay">"To pay"</h2>
                                <InvoicesTable rows=u base="/portal/invoices"/>
                            </section>
                        })}
                        <section class="card" aria-labelledby="services">
                            <h2 id="services">"Your services"</h2>
                            {if s.is_empty() {
                                view! { <p class="muted">"You have no services yet. " <a href="/portal/order">"Order one"</a></p> }.into_any()
                            } else {
                                view! { <SubscriptionsTable rows=s cancel_base="/portal/subscriptions"/> }.into_any()
                            }}
                        </section>
                    }.into_any(),
                    (Err(e), _) | (_, Err(e)) => load_error("your account", e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OrderForm(plan: ProductRow, addons: Vec<ProductRow>) -> impl IntoView {
    let form_id = format!("order-{}", plan.id);
    view! {
        <article class="card plan" data-plan=plan.sku.clone()>
            <h2>{plan.name.clone()}</h2>
            <p class="muted">{plan.kind.clone()}</p>
            <form method="post" action="/portal/orders" class="form" id=form_id.clone()>
                <input type="hidden" name="productId" value=plan.id.clone()/>
                <fieldset class="field">
                    <legend>"Billing"</legend>
                    {plan.prices.iter().enumerate().map(|(i, p)| {
                        let id = format!("{}-{}", plan.id, p.cycle);
                        view! {
                            <div class="choice">
                                <input type="radio" id=id.clone() name="billingCycle" value=p.cycle.clone() checked=i == 0/>
                                <label for=id>{format!("{} {}", p.label, p.cycle.replace('_', "-"))}</label>
                            </div>
                        }
                    }).collect_view()}
                </fieldset>
                {(!addons.is_empty()).then(|| view! {
                    <fieldset class="field">
                        <legend>"Add-ons"</legend>
                        {addons.iter().map(|a| {
                            let id = format!("{}-{}", plan.id, a.id);
                            let prices = a.prices.iter().map(|p| format!("{} {}", p.label, p.cycle)).collect::<Vec<_>>().join(" · ");
                            view! {
                                <div class="choice">
                                    <input type="checkbox" id=id.clone() name="addon" value=a.id.clone()/>
                                    <label for=id>{format!("{} ({prices})", a.name)}</label>
                                </div>
                            }
                        }).collect_view()}
                    </fieldset>
                })}
                <div class="field">
                    <label for=format!("{form_id}-coupon")>"Coupon"</label>
                    <input id=format!("{form_id}-coupon") name="couponCode" autocomplete="off"/>
                </div>
                <button type="submit" class="button primary">{format!("Order {}", plan.name)}</button>
            </form>
        </article>
    }
}

#[component]
pub fn PortalOrder() -> impl IntoView {
    let products = Resource::new_blocking(|| (), |_| billing_products());
    view! {
        <Title text="Order"/>
        <h1>"Order a service"</h1>
        <FieldError field="couponCode"/>
        <FieldError field="items[0].billingCycle"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match products.await {
                    Ok(all) => {
                        let (addons, plans): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| p.kind == "addon");
                        if plans.is_empty() {
                            return view! { <p class="muted">"Nothing is for sale yet."</p> }.into_any();
                        }
                        view! {
                            <div class="cards catalog">
                                {plans.into_iter().map(|p| view! { <OrderForm plan=p addons=addons.clone()/> }).collect_view()}
                            </div>
                        }.into_any()
                    }
                    Err(e) => load_error("the catalog", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PortalInvoices() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| billing_invoices(None, None));
    view! {
        <Title text="Invoices"/>
        <h1>"Invoices"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) => view! { <InvoicesTable rows base="/portal/invoices"/> }.into_any(),
                    Err(e) => load_error("your invoices", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PortalInvoice() -> impl IntoView {
    let id = use_params_map()
        .with_untracked(|p| p.get("id"))
        .unwrap_or_default();
    let inv = Resource::new_blocking(move || id.clone(), billing_invoice);
    let mode = Resource::new_blocking(|| (), |_| billing_payment_mode());
    // Back from the card payment page (Stripe's success URL).
    let back_from_card = use_query_map().with_untracked(|q| q.get("paid")).is_some();
    view! {
        <Title text="Invoice"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (inv.await, mode.await) {
                    (Ok(inv), Ok((stripe, instructions))) => {
                        let unpaid = inv.row.status == "unpaid";
                        let (id, number, due) = (inv.row.id.clone(), inv.row.number.clone(), inv.row.amount_due.clone());
                        view! {
                            {back_from_card.then(|| if unpaid {
                                view! { <p class="card attention no-print" data-testid="payment-confirmation">"Thank you. Your payment is being confirmed; this page shows the invoice paid as soon as Stripe tells us."</p> }.into_any()
                            } else {
                                view! { <p class="card no-print" data-testid="payment-confirmation">"Payment received. Thank you."</p> }.into_any()
                            })}
                            {(unpaid && stripe).then(|| view! {
                                <form method="post" action=format!("/portal/invoices/{id}/pay") class="actions-row no-print">
                                    <button type="submit" class="button primary">{format!("Pay {due} by card")}</button>
                                </form>
                            })}
                            {instructions.filter(|_| unpaid).map(|text| view! {
                                <section class="card attention no-print" data-testid="payment-instructions">
                                    <h2>{if stripe { format!("Or pay {due} by bank transfer") } else { format!("How to pay {due}") }}</h2>
                                    <p>{text}</p>
                                    <p>{format!("Reference: {number}")}</p>
                                </section>
                            })}
                            <InvoiceDocument inv/>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => load_error("this invoice", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PortalSubscriptions() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| billing_subscriptions(None));
    view! {
        <Title text="Services"/>
        <h1>"Your services"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) => view! { <SubscriptionsTable rows cancel_base="/portal/subscriptions"/> }.into_any(),
                    Err(e) => load_error("your services", e),
                }
            })}
        </Suspense>
    }
}
