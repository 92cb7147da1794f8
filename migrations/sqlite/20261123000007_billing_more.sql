-- The seller's details printed on invoices (legal name, address, tax id,
-- contact), per tenant, as JSON; each invoice keeps a copy as issued.
ALTER TABLE tenants ADD COLUMN billing_profile TEXT;
ALTER TABLE invoices ADD COLUMN bill_from TEXT;
-- When the reminder before the due date went out (once per invoice).
ALTER TABLE invoices ADD COLUMN reminded_at TEXT;
-- Automatic charge of the saved card: when it was tried, and why it failed.
ALTER TABLE invoices ADD COLUMN charge_attempted_at TEXT;
ALTER TABLE invoices ADD COLUMN charge_error TEXT;
