-- Billing: customers, the catalog, coupons, tax rates, orders, invoices,
-- subscriptions, payments and credit. Money is BIGINT minor units of the
-- row's currency; rates are parts per million. Kept in lockstep with
-- migrations/postgres.

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT,
    address_line1 TEXT,
    address_line2 TEXT,
    city TEXT,
    state TEXT,
    postal_code TEXT,
    country TEXT,
    tax_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    stripe_customer_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('cloudpod', 'wordpress', 'container', 'app', 'domain', 'email', 'backup', 'addon')),
    sku TEXT NOT NULL,
    metadata TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    deleted_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, sku)
);

CREATE TABLE product_prices (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    cycle TEXT NOT NULL CHECK (cycle IN ('monthly', 'quarterly', 'semiannually', 'yearly', 'biennially', 'triennially', 'one_time')),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (product_id, cycle, currency)
);

CREATE TABLE coupons (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    code TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('percent', 'fixed')),
    percent_ppm BIGINT CHECK (percent_ppm BETWEEN 0 AND 1000000),
    amount BIGINT CHECK (amount >= 0),
    currency TEXT,
    duration TEXT NOT NULL CHECK (duration IN ('once', 'recurring')),
    -- Comma-separated product ids the coupon is limited to; empty: every product.
    product_ids TEXT NOT NULL DEFAULT '',
    expires_at TEXT,
    max_redemptions BIGINT,
    redemptions BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE tax_rates (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    -- Empty: the whole country.
    region TEXT NOT NULL DEFAULT '',
    rate_ppm BIGINT NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000),
    inclusive BIGINT NOT NULL DEFAULT 0 CHECK (inclusive IN (0, 1)),
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX tax_rates_lookup_idx ON tax_rates (tenant_id, country, region, valid_from);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled', 'fraud')),
    currency TEXT NOT NULL,
    coupon_id TEXT REFERENCES coupons (id),
    coupon_code TEXT,
    subtotal BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    total BIGINT NOT NULL,
    invoice_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX orders_customer_idx ON orders (tenant_id, customer_id);

-- One ordered product (parent_position NULL) or an add-on of one.
CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    parent_position BIGINT,
    product_id TEXT NOT NULL REFERENCES products (id),
    description TEXT NOT NULL,
    billing_cycle TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    unit_price BIGINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (order_id, position)
);

-- Invoice numbers are sequential per tenant with no gaps: the counter moves in
-- the transaction that creates the invoice.
CREATE TABLE invoice_counters (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    next_number BIGINT NOT NULL
);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    order_id TEXT REFERENCES orders (id),
    subscription_id TEXT,
    number BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('unpaid', 'paid', 'cancelled', 'refunded')),
    currency TEXT NOT NULL,
    subtotal BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    tax_rate_ppm BIGINT NOT NULL,
    tax_inclusive BIGINT NOT NULL CHECK (tax_inclusive IN (0, 1)),
    tax_name TEXT,
    total BIGINT NOT NULL,
    credit_applied BIGINT NOT NULL,
    amount_due BIGINT NOT NULL,
    amount_refunded BIGINT NOT NULL DEFAULT 0,
    -- The customer's name, address and tax id as they were when invoiced.
    bill_to TEXT NOT NULL,
    period_start TEXT,
    period_end TEXT,
    due_at TEXT NOT NULL,
    paid_at TEXT,
    cancelled_at TEXT,
    refunded_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, number)
);
CREATE INDEX invoices_customer_idx ON invoices (tenant_id, customer_id, created_at);
CREATE INDEX invoices_status_idx ON invoices (status, due_at);
-- One renewal invoice per subscription period.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (subscription_id, period_start) WHERE subscription_id IS NOT NULL;

CREATE TABLE invoice_items (
    invoice_id TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    product_id TEXT,
    description TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 1),
    unit_price BIGINT NOT NULL,
    gross BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    order_id TEXT REFERENCES orders (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'past_due', 'suspended', 'cancelled', 'terminated')),
    billing_cycle TEXT NOT NULL,
    currency TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    -- Price of one unit per cycle (the catalog price when ordered).
    unit_price BIGINT NOT NULL,
    -- A recurring coupon keeps discounting renewals.
    coupon_id TEXT REFERENCES coupons (id),
    -- Add-ons ordered with it, renewed with it: JSON [{productId, description, quantity, unitPrice}].
    addons TEXT NOT NULL DEFAULT '[]',
    starts_at TEXT NOT NULL,
    period_start TEXT,
    renews_at TEXT,
    periods_paid BIGINT NOT NULL DEFAULT 0,
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    cancelled_at TEXT,
    suspended_at TEXT,
    terminated_at TEXT,
    payment_method_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX subscriptions_customer_idx ON subscriptions (tenant_id, customer_id);
CREATE INDEX subscriptions_renewal_idx ON subscriptions (status, renews_at);

CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    provider TEXT NOT NULL CHECK (provider IN ('stripe', 'manual', 'credit')),
    -- The provider's id of the payment (payment intent, bank reference).
    provider_ref TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    amount_refunded BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (provider, provider_ref)
);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    provider_ref TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    created_at TEXT NOT NULL,
    UNIQUE (payment_id, provider_ref)
);

-- Customer credit: positive entries add, negative entries spend.
CREATE TABLE credit_entries (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    reason TEXT NOT NULL,
    invoice_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX credit_entries_customer_idx ON credit_entries (customer_id, currency);

CREATE TABLE payment_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    provider TEXT NOT NULL,
    session_id TEXT NOT NULL,
    checkout_url TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (invoice_id, attempt)
);

-- Each Stripe event once, stored in the transaction that applies it.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL
);
