//! Server functions of the billing pages, shared by both portals: core
//! decides what the caller may see (an operator: the tenant's; a customer:
//! its own), so one function serves the admin list and the customer's.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::server::{caller, db, fail, first_page};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: String,
    pub country: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceRow {
    pub cycle: String,
    /// "9.99 USD"
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub sku: String,
    pub status: String,
    pub prices: Vec<PriceRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceRow {
    pub id: String,
    pub number: String,
    pub status: String,
    pub customer_id: String,
    pub customer_name: String,
    /// "11.55 USD"
    pub total: String,
    pub amount_due: String,
    pub created_at: String,
    pub due_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRow {
    pub description: String,
    pub quantity: i64,
    pub unit_price: String,
    pub discount: String,
    pub tax: String,
    pub total: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceDetail {
    pub row: InvoiceRow,
    /// The seller's name, address and tax id, as issued.
    pub seller: Vec<String>,
    pub bill_to: Vec<String>,
    /// Why the automatic charge of the saved card failed.
    pub charge_error: Option<String>,
    pub items: Vec<ItemRow>,
    pub subtotal: String,
    pub discount: Option<String>,
    /// "Florida sales tax 7 %" or "Tax".
    pub tax_label: String,
    pub tax: String,
    pub tax_included: bool,
    pub credit: Option<String>,
    pub paid_at: Option<String>,
    pub period: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRow {
    pub id: String,
    pub customer_id: String,
    pub product: String,
    pub kind: String,
    pub status: String,
    pub cycle: String,
    pub price: String,
    pub starts_at: String,
    pub renews_at: Option<String>,
    pub cancel_at_period_end: bool,
    /// Plans it can move to now: `(product id, "Name — 19.99 USD monthly")`.
    pub choices: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
async fn viewer() -> Result<(mooring_core::Db, mooring_core::billing::Viewer), ServerFnError> {
    let me = caller()?;
    let db = db()?;
    let v = mooring_core::billing::viewer(&db, &me.principal())
        .await
        .map_err(fail)?;
    Ok((db, v))
}

#[cfg(feature = "ssr")]
use mooring_core::billing::money::with_code as money;

#[cfg(feature = "ssr")]
fn invoice_row(i: &mooring_core::billing::invoices::Invoice) -> InvoiceRow {
    InvoiceRow {
        id: i.id.clone(),
        number: i.display_number(),
        status: i.status.clone(),
        customer_id: i.customer_id.clone(),
        customer_name: i.bill_to["name"].as_str().unwrap_or_default().to_string(),
        total: money(i.total, &i.currency),
        amount_due: money(i.amount_due, &i.currency),
        created_at: i.created_at.clone(),
        due_at: i.due_at.clone(),
    }
}

/// Customers (operators), optionally matching `search`.
#[server(prefix = "/_fn", endpoint = "billing_customers")]
pub async fn billing_customers(search: Option<String>) -> Result<Vec<CustomerRow>, ServerFnError> {
    let (db, v) = viewer().await?;
    v.require_operator("customers are for operators")
        .map_err(fail)?;
    let (list, _) =
        mooring_core::billing::customers::list(&db, &v, search.as_deref(), first_page()?)
            .await
            .map_err(fail)?;
    Ok(list
        .into_iter()
        .map(|c| CustomerRow {
            country: c.address.as_ref().map(|a| a.country.clone()),
            id: c.id,
            name: c.name,
            email: c.email,
            status: c.status,
            created_at: c.created_at,
        })
        .collect())
}

/// The catalog (customers: what can be ordered), add-ons included.
#[server(prefix = "/_fn", endpoint = "billing_products")]
pub async fn billing_products() -> Result<Vec<ProductRow>, ServerFnError> {
    let (db, v) = viewer().await?;
    let (list, _) =
        mooring_core::billing::products::list(&db, &v, &Default::default(), first_page()?)
            .await
            .map_err(fail)?;
    Ok(list
        .into_iter()
        .map(|p| ProductRow {
            prices: p
                .prices
                .iter()
                .map(|x| PriceRow {
                    cycle: x.cycle.clone(),
                    label: money(x.amount, &x.currency),
                })
                .collect(),
            id: p.id,
            name: p.name,
            kind: p.kind,
            sku: p.sku,
            status: p.status,
        })
        .collect())
}

/// Invoices the caller may see, optionally of one status or customer.
#[server(prefix = "/_fn", endpoint = "billing_invoices")]
pub async fn billing_invoices(
    status: Option<String>,
    customer: Option<String>,
) -> Result<Vec<InvoiceRow>, ServerFnError> {
    let (db, v) = viewer().await?;
    let (list, _) = mooring_core::billing::invoices::list(
        &db,
        &v,
        customer.as_deref().filter(|c| !c.is_empty()),
        status.as_deref().filter(|s| !s.is_empty()),
        first_page()?,
    )
    .await
    .map_err(fail)?;
    Ok(list.iter().map(invoice_row).collect())
}

/// One invoice, ready to print.
#[server(prefix = "/_fn", endpoint = "billing_invoice")]
pub async fn billing_invoice(id: String) -> Result<InvoiceDetail, ServerFnError> {
    let (db, v) = viewer().await?;
    let i = mooring_core::billing::invoices::get(&db, &v, &id)
        .await
        .map_err(fail)?;
    // Invoices from before the seller was kept show the tenant's name.
    let seller = if i.bill_from.is_object() {
        mooring_core::billing::invoices::party_lines(&i.bill_from, "legalName")
    } else {
        vec![mooring_core::tenants::name(&db, &i.tenant_id)
            .await
            .map_err(fail)?]
    };
    let bill_to = mooring_core::billing::invoices::party_lines(&i.bill_to, "name");
    let c = &i.currency;
    let rate = mooring_core::billing::money::format_percent(i.tax_rate_ppm);
    Ok(InvoiceDetail {
        row: invoice_row(&i),
        seller,
        bill_to,
        charge_error: i.charge_error.clone().filter(|_| i.status == "unpaid"),
        items: i
            .items
            .iter()
            .map(|l| ItemRow {
                description: l.description.clone(),
                quantity: l.quantity,
                unit_price: money(l.unit_price, c),
                discount: money(l.discount, c),
                tax: money(l.tax, c),
                total: money(l.total, c),
            })
            .collect(),
        subtotal: money(i.subtotal, c),
        discount: (i.discount > 0).then(|| money(i.discount, c)),
        tax_label: match &i.tax_name {
            Some(n) => format!("{n} {rate} %"),
            None => "Tax".into(),
        },
        tax: money(i.tax, c),
        tax_included: i.tax_inclusive,
        credit: (i.credit_applied > 0).then(|| money(i.credit_applied, c)),
        paid_at: i.paid_at.clone(),
        period: match (&i.period_start, &i.period_end) {
            (Some(s), Some(e)) => Some(format!("{} – {}", &s[..10], &e[..10])),
            _ => None,
        },
    })
}

/// Subscriptions the caller may see.
#[server(prefix = "/_fn", endpoint = "billing_subscriptions")]
pub async fn billing_subscriptions(
    status: Option<String>,
) -> Result<Vec<SubscriptionRow>, ServerFnError> {
    let (db, v) = viewer().await?;
    let f = mooring_core::billing::subscriptions::SubscriptionFilter {
        status: status.filter(|s| !s.is_empty()),
        ..Default::default()
    };
    let (list, _) = mooring_core::billing::subscriptions::list(&db, &v, &f, first_page()?)
        .await
        .map_err(fail)?;
    let catalog = mooring_core::billing::products::ProductFilter {
        active_only: true,
        ..Default::default()
    };
    let (products, _) = mooring_core::billing::products::list(&db, &v, &catalog, first_page()?)
        .await
        .map_err(fail)?;
    Ok(list
        .into_iter()
        .map(|s| SubscriptionRow {
            choices: if s.status == "active" && !s.cancel_at_period_end {
                products
                    .iter()
                    .filter(|p| p.id != s.product_id && p.kind == s.product_kind)
                    .filter_map(|p| {
                        p.price(&s.billing_cycle, &s.currency).map(|a| {
                            (
                                p.id.clone(),
                                format!(
                                    "{} — {} {}",
                                    p.name,
                                    money(a * s.quantity, &s.currency),
                                    s.billing_cycle.replace('_', "-")
                                ),
                            )
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            },
            price: money(s.unit_price * s.quantity, &s.currency),
            id: s.id,
            customer_id: s.customer_id,
            product: s.product_name,
            kind: s.product_kind,
            status: s.status,
            cycle: s.billing_cycle,
            starts_at: s.starts_at,
            renews_at: s.renews_at,
            cancel_at_period_end: s.cancel_at_period_end,
        })
        .collect())
}

/// How this installation takes payment: `(stripe, transfer instructions)`.
#[server(prefix = "/_fn", endpoint = "billing_payment_mode")]
pub async fn billing_payment_mode() -> Result<(bool, Option<String>), ServerFnError> {
    caller()?;
    let ctx = use_context::<std::sync::Arc<crate::server::PortalContext>>()
        .ok_or_else(|| ServerFnError::new("portal context missing"))?;
    Ok((ctx.stripe, ctx.payment_instructions.clone()))
}

/// A customer with every field the edit form shows ("" when unset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerDetail {
    pub row: CustomerRow,
    pub phone: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
    pub tax_id: String,
}

/// One customer (operators).
#[server(prefix = "/_fn", endpoint = "billing_customer")]
pub async fn billing_customer(id: String) -> Result<CustomerDetail, ServerFnError> {
    let (db, v) = viewer().await?;
    let c = mooring_core::billing::customers::get(&db, &v, &id)
        .await
        .map_err(fail)?;
    let a = c.address.clone().unwrap_or_default();
    Ok(CustomerDetail {
        phone: c.phone.clone().unwrap_or_default(),
        line1: a.line1,
        line2: a.line2.unwrap_or_default(),
        city: a.city,
        state: a.state.unwrap_or_default(),
        postal_code: a.postal_code.unwrap_or_default(),
        country: a.country,
        tax_id: c.tax_id.clone().unwrap_or_default(),
        row: CustomerRow {
            country: c.address.as_ref().map(|a| a.country.clone()),
            id: c.id,
            name: c.name,
            email: c.email,
            status: c.status,
            created_at: c.created_at,
        },
    })
}

/// A product with its prices as form values (`cycle → "9.99"`) in its
/// first currency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductDetail {
    pub row: ProductRow,
    pub currency: String,
    pub amounts: Vec<(String, String)>,
    /// A CloudPod product's size as form values: template, CPU, memory MB, disk GB.
    pub size: Option<(String, String, String, String)>,
    /// What customers may do to their CloudPods of this product.
    pub customer_actions: Vec<String>,
}

/// One product (operators).
#[server(prefix = "/_fn", endpoint = "billing_product")]
pub async fn billing_product(id: String) -> Result<ProductDetail, ServerFnError> {
    let (db, v) = viewer().await?;
    v.require_operator("only operators edit products")
        .map_err(fail)?;
    let p = mooring_core::billing::products::get(&db, &v, &id)
        .await
        .map_err(fail)?;
    let currency = p
        .prices
        .first()
        .map(|x| x.currency.clone())
        .unwrap_or_else(|| "USD".into());
    let m = &p.metadata;
    let num = |k: &str| m[k].as_i64().map(|n| n.to_string()).unwrap_or_default();
    let size = (p.kind == "cloudpod").then(|| {
        (
            m["template"].as_str().unwrap_or("debian").to_string(),
            num("cpu"),
            num("memoryMb"),
            num("diskGb"),
        )
    });
    Ok(ProductDetail {
        size,
        customer_actions: mooring_core::cloudpods::customer_actions_of(&p.metadata)
            .into_iter()
            .map(str::to_string)
            .collect(),
        amounts: p
            .prices
            .iter()
            .filter(|x| x.currency == currency)
            .map(|x| {
                (
                    x.cycle.clone(),
                    mooring_core::billing::money::format(x.amount, &x.currency),
                )
            })
            .collect(),
        currency,
        row: ProductRow {
            prices: p
                .prices
                .iter()
                .map(|x| PriceRow {
                    cycle: x.cycle.clone(),
                    label: money(x.amount, &x.currency),
                })
                .collect(),
            id: p.id,
            name: p.name,
            kind: p.kind,
            sku: p.sku,
            status: p.status,
        },
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: String,
    pub customer_id: String,
    pub customer: String,
    pub summary: String,
    pub total: String,
    pub status: String,
    pub coupon: Option<String>,
    pub invoice_id: Option<String>,
    pub invoice_number: Option<String>,
    pub created_at: String,
}

/// Orders (operators: all of the tenant; customers: their own).
#[server(prefix = "/_fn", endpoint = "billing_orders")]
pub async fn billing_orders(status: Option<String>) -> Result<Vec<OrderRow>, ServerFnError> {
    let (db, v) = viewer().await?;
    let (list, _) = mooring_core::billing::orders::list(
        &db,
        &v,
        status.as_deref().filter(|s| !s.is_empty()),
        first_page()?,
    )
    .await
    .map_err(fail)?;
    Ok(list
        .into_iter()
        .map(|o| OrderRow {
            summary: if o.lines > 1 {
                format!("{} and {} more", o.first_line, o.lines - 1)
            } else {
                o.first_line.clone()
            },
            total: money(o.total, &o.currency),
            invoice_number: o
                .invoice_number
                .map(mooring_core::billing::invoices::number_text),
            id: o.id,
            customer_id: o.customer_id,
            customer: o.customer_name,
            status: o.status,
            coupon: o.coupon_code,
            invoice_id: o.invoice_id,
            created_at: o.created_at,
        })
        .collect())
}

/// The seller's details invoices are issued under, as form values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ProfileForm {
    pub legal_name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
    pub tax_id: String,
    pub email: String,
}

#[server(prefix = "/_fn", endpoint = "billing_profile")]
pub async fn billing_profile() -> Result<ProfileForm, ServerFnError> {
    let (db, v) = viewer().await?;
    let p = mooring_core::billing::profile::get(&db, &v)
        .await
        .map_err(fail)?;
    let a = p.address.unwrap_or_default();
    Ok(ProfileForm {
        legal_name: p.legal_name,
        line1: a.line1,
        line2: a.line2.unwrap_or_default(),
        city: a.city,
        state: a.state.unwrap_or_default(),
        postal_code: a.postal_code.unwrap_or_default(),
        country: a.country,
        tax_id: p.tax_id.unwrap_or_default(),
        email: p.email.unwrap_or_default(),
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CouponRow {
    pub id: String,
    pub code: String,
    /// "10 % off" / "5.00 USD off"
    pub effect: String,
    pub duration: String,
    pub used: String,
    pub expires_at: Option<String>,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaxRateRow {
    pub name: String,
    pub place: String,
    pub rate: String,
    pub inclusive: bool,
    pub valid: String,
}

/// Coupons (operators).
#[server(prefix = "/_fn", endpoint = "billing_coupons")]
pub async fn billing_coupons() -> Result<Vec<CouponRow>, ServerFnError> {
    let (db, v) = viewer().await?;
    let list = mooring_core::billing::coupons::list(&db, &v)
        .await
        .map_err(fail)?;
    Ok(list
        .into_iter()
        .map(|c| CouponRow {
            effect: c.describe(),
            used: match c.max_redemptions {
                Some(m) => format!("{} of {m}", c.redemptions),
                None => c.redemptions.to_string(),
            },
            id: c.id,
            code: c.code,
            duration: c.duration,
            expires_at: c.expires_at,
            active: c.active,
        })
        .collect())
}

/// Tax rates (operators).
#[server(prefix = "/_fn", endpoint = "billing_tax_rates")]
pub async fn billing_tax_rates() -> Result<Vec<TaxRateRow>, ServerFnError> {
    let (db, v) = viewer().await?;
    let list = mooring_core::billing::tax::list(&db, &v)
        .await
        .map_err(fail)?;
    Ok(list
        .into_iter()
        .map(|r| TaxRateRow {
            place: if r.region.is_empty() {
                r.country.clone()
            } else {
                format!("{}-{}", r.country, r.region)
            },
            rate: format!(
                "{} %",
                mooring_core::billing::money::format_percent(r.rate_ppm)
            ),
            inclusive: r.inclusive,
            valid: match &r.valid_to {
                Some(to) => format!("{} – {}", &r.valid_from[..10], &to[..10]),
                None => format!("from {}", &r.valid_from[..10]),
            },
            name: r.name,
        })
        .collect())
}
