//! Billing: money, pricing, customers, products, coupons, tax, orders,
//! invoices, subscriptions and payments. Everything is tenant-scoped from the
//! principal; a customer login sees only its own customer.

pub mod coupons;
pub mod customers;
pub mod invoices;
pub mod lifecycle;
pub mod money;
pub mod notices;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod products;
pub mod profile;
pub mod stripe;
pub mod subscriptions;
pub mod tax;

use crate::{identity::Principal, CoreError, CoreResult, Db};

/// Who is asking, for billing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// An operator of `tenant` (admin or staff).
    Operator { tenant: String, admin: bool },
    /// A customer's login: only this customer of `tenant`.
    Customer {
        tenant: String,
        customer: CustomerId,
    },
}

/// The id of the one customer a customer login sees: never empty, so a
/// filter built from it (`$n = '' OR customer_id = $n`) cannot fail open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerId(String);

impl CustomerId {
    /// `None` for an empty or blank id.
    pub fn new(id: impl Into<String>) -> Option<CustomerId> {
        let id = id.into();
        (!id.trim().is_empty()).then_some(CustomerId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Viewer {
    pub fn tenant(&self) -> &str {
        match self {
            Viewer::Operator { tenant, .. } | Viewer::Customer { tenant, .. } => tenant,
        }
    }

    /// The one customer a customer login may see; `None` for operators.
    pub fn only_customer(&self) -> Option<&str> {
        match self {
            Viewer::Operator { .. } => None,
            Viewer::Customer { customer, .. } => Some(customer.as_str()),
        }
    }

    /// What to bind to a `($n = '' OR customer_id = $n)` filter: a
    /// customer's own id (never empty), else the operator's `requested`
    /// customer or '' for all of them.
    pub fn customer_scope(&self, requested: Option<&str>) -> String {
        match self {
            Viewer::Customer { customer, .. } => customer.as_str().to_string(),
            Viewer::Operator { .. } => requested.unwrap_or_default().to_string(),
        }
    }

    pub fn require_operator(&self, why: &str) -> CoreResult<()> {
        match self {
            Viewer::Operator { .. } => Ok(()),
            Viewer::Customer { .. } => Err(CoreError::Forbidden(why.into())),
        }
    }

    pub fn require_admin(&self, why: &str) -> CoreResult<()> {
        match self {
            Viewer::Operator { admin: true, .. } => Ok(()),
            _ => Err(CoreError::Forbidden(why.into())),
        }
    }
}

/// The billing view of a principal. A customer login without a customer
/// record sees nothing (refused).
pub async fn viewer(db: &Db, p: &Principal) -> CoreResult<Viewer> {
    if p.is_operator() {
        return Ok(Viewer::Operator {
            tenant: p.tenant_id.clone(),
            admin: p.role == crate::identity::Role::Admin,
        });
    }
    // The account as authentication keeps it (no query on most requests).
    let customer = crate::identity::cached_user(db, &p.user_id)
        .await?
        .filter(|u| u.tenant_id == p.tenant_id)
        .and_then(|u| u.customer_id.clone());
    match customer {
        Some(customer) => match CustomerId::new(customer) {
            Some(customer) => Ok(Viewer::Customer {
                tenant: p.tenant_id.clone(),
                customer,
            }),
            None => Err(CoreError::Forbidden(
                "this login is not linked to a customer".into(),
            )),
        },
        None => Err(CoreError::Forbidden(
            "this login is not linked to a customer".into(),
        )),
    }
}

/// Amount as the API shows it.
pub fn amount(minor: i64, currency: &str) -> serde_json::Value {
    money::to_json(minor, currency)
}
