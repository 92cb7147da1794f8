//! A shop to test with: the tenant's admin view, products sold monthly, customers,
//! and orders with their invoice and subscription, made through core as an
//! operator would.

use crate::{
    billing::{
        customers::{self, Customer, CustomerInput},
        invoices::Invoice,
        orders::{self, ItemInput, Order, OrderInput},
        products::{self, PriceInput, Product, ProductInput},
        Viewer,
    },
    Db, DEFAULT_TENANT_ID,
};

/// An admin of the default tenant, as billing sees one.
pub fn admin() -> Viewer {
    Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    }
}

/// A product input of `kind` sold monthly at `price` (a decimal) in USD.
pub fn monthly(name: &str, kind: &str, sku: &str, price: &str) -> ProductInput {
    ProductInput {
        name: Some(name.into()),
        kind: Some(kind.into()),
        sku: Some(sku.into()),
        billing_cycles: Some(vec![PriceInput {
            cycle: "monthly".into(),
            price: price.parse().expect("a decimal price"),
            currency: "USD".into(),
        }]),
        ..Default::default()
    }
}

/// Create `input` in `v`'s tenant.
pub async fn product(db: &Db, v: &Viewer, input: ProductInput) -> Product {
    products::create(db, v, "op", input)
        .await
        .expect("a product")
}

/// A customer of `v`'s tenant.
pub async fn customer(db: &Db, v: &Viewer, name: &str, email: &str) -> Customer {
    customers::create(
        db,
        v,
        "op",
        CustomerInput {
            name: Some(name.into()),
            email: Some(email.into()),
            ..Default::default()
        },
    )
    .await
    .expect("a customer")
}

/// An order of one `product`, monthly, for `customer`: the order, its
/// invoice and the id of its (pending) subscription.
pub async fn order(db: &Db, v: &Viewer, customer: &str, product: &str) -> (Order, Invoice, String) {
    let (order, invoice) = orders::create(
        db,
        v,
        "op",
        OrderInput {
            customer_id: Some(customer.into()),
            items: vec![ItemInput {
                product_id: product.into(),
                billing_cycle: "monthly".into(),
                quantity: None,
                addons: vec![],
            }],
            coupon_code: None,
            currency: None,
        },
    )
    .await
    .expect("an order");
    let sub = sqlx::query_scalar("SELECT id FROM subscriptions WHERE order_id = $1")
        .bind(&order.id)
        .fetch_one(db.pool())
        .await
        .expect("the order's subscription");
    (order, invoice, sub)
}
