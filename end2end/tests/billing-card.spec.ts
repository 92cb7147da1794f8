// Paying by card through the Stripe stand-in (Stripe cannot run here), in the
// browser: the operator sets the billing profile, edits a price and a
// customer; the customer orders, pays on the hosted page (the stand-in sends
// each event three times, out of order), comes back to a paid invoice issued
// by the seller's profile, and moves to a bigger plan.
import { expect, test } from "@playwright/test";
import { signIn } from "./helpers";

test("pay by card, change plan; profile, product and customer edits", async ({ browser, page }, info) => {
  const tag = `${info.project.name}-${Date.now()}`;
  const sku = `CARD-${tag}`.toUpperCase();
  const email = `card-${tag}@example.com`;
  const password = "customer portal password";

  // Operator: who invoices are issued by (every project writes the same).
  await signIn(page, "/admin/billing-profile");
  await page.getByLabel("Legal name").fill("Harbour Hosting Lda");
  await page.getByLabel("Address", { exact: true }).fill("Rua do Cais 1");
  await page.getByLabel("City").fill("Porto");
  await page.getByLabel("Country (2 letters)").fill("PT");
  await page.getByLabel("Tax id").fill("PT509999999");
  await page.getByRole("button", { name: "Save the billing profile" }).click();
  await expect(page.getByTestId("flash")).toContainText("New invoices carry these details.");
  await expect(page.getByLabel("Legal name")).toHaveValue("Harbour Hosting Lda");
  // A bad country is refused next to its field.
  await page.getByLabel("Country (2 letters)").fill("P");
  await page.getByRole("button", { name: "Save the billing profile" }).click();
  await expect(page.getByTestId("flash")).toContainText("ISO 3166-1");
  await expect(page.getByLabel("Country (2 letters)")).toHaveValue("PT");

  // Two plans; the big one's price is edited on its own page.
  await page.goto("/admin/products");
  for (const [name, price] of [[`Pod S ${tag}`, "10"], [`Pod L ${tag}`, "30"]]) {
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("SKU").fill(`${sku}-${name.split(" ")[1]}`);
    // Not CloudPods: this test is about billing, not about containers.
    await page.getByLabel("Type").selectOption("backup");
    await page.getByLabel("Monthly price", { exact: true }).fill(price);
    await page.getByRole("button", { name: "Add the product" }).click();
    await expect(page.getByTestId("flash")).toContainText(`Added ${name}.`);
  }
  await page.getByRole("link", { name: `Pod L ${tag}` }).click();
  await expect(page.getByLabel("Monthly price", { exact: true })).toHaveValue("30.00");
  await page.getByLabel("Monthly price", { exact: true }).fill("29");
  await page.getByLabel("Yearly price", { exact: true }).fill("290");
  await page.getByRole("button", { name: "Save the product" }).click();
  await expect(page.getByTestId("flash")).toContainText(`Saved Pod L ${tag}.`);
  await expect(page.getByLabel("Yearly price", { exact: true })).toHaveValue("290.00");
  // Prices in a second currency are added beside the first, which is kept.
  await page.getByLabel("Currency").fill("EUR");
  await page.getByLabel("Monthly price", { exact: true }).fill("27");
  await page.getByLabel("Yearly price", { exact: true }).fill("");
  await page.getByRole("button", { name: "Save the product" }).click();
  await expect(page.getByTestId("flash")).toContainText(`Saved Pod L ${tag}.`);
  await expect(page.getByTestId("product-prices")).toContainText("29.00 USD monthly");
  await expect(page.getByTestId("product-prices")).toContainText("290.00 USD yearly");
  await expect(page.getByTestId("product-prices")).toContainText("27.00 EUR monthly");

  // A customer with a login, whose city is corrected afterwards.
  await page.goto("/admin/customers");
  await page.getByLabel("Name", { exact: true }).fill(`Card ${tag}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Address", { exact: true }).fill("2 Quay Street");
  await page.getByLabel("City").fill("Lisbon");
  await page.getByLabel("Country (2 letters)").fill("PT");
  await page.getByRole("button", { name: "Add the customer" }).click();
  await expect(page).toHaveURL(/\/admin\/customers\/[0-9a-f-]{36}$/);
  await page.getByLabel("City").fill("Braga");
  await page.getByRole("button", { name: "Save the customer" }).click();
  await expect(page.getByTestId("flash")).toContainText(`Saved Card ${tag}.`);
  await expect(page.getByLabel("City")).toHaveValue("Braga");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create the login" }).click();
  await expect(page.getByTestId("flash")).toContainText("The customer can sign in now.");

  // Customer: order the small plan and pay by card on the hosted page.
  const ctx = await browser.newContext({ ...info.project.use });
  const buyer = await ctx.newPage();
  await buyer.goto("/login?next=%2Fportal%2Forder");
  await buyer.getByLabel("Email").fill(email);
  await buyer.getByLabel("Password").fill(password);
  await buyer.getByRole("button", { name: "Sign in" }).click();
  const plan = buyer.locator(`[data-plan="${sku}-S"]`);
  await plan.getByLabel(/10\.00 USD monthly/).check();
  await plan.getByRole("button", { name: /^Order/ }).click();
  await expect(buyer).toHaveURL(/\/portal\/invoices\/[0-9a-f-]{36}$/);
  const invoiceUrl = buyer.url();
  await expect(buyer.getByTestId("invoice-seller")).toContainText("Harbour Hosting Lda");
  await expect(buyer.getByTestId("invoice-seller")).toContainText("Porto");
  await expect(buyer.getByTestId("invoice-seller")).toContainText("Tax id PT509999999");
  await expect(buyer.getByTestId("invoice")).toContainText("Braga");
  await expect(buyer.getByTestId("payment-instructions")).toContainText("IBAN");
  await buyer.getByRole("button", { name: "Pay 10.00 USD by card" }).click();
  await expect(buyer).toHaveURL(/127\.0\.0\.1:18932\/pay\/cs_test_/);
  await expect(buyer.getByTestId("checkout-amount")).toHaveText("10.00 USD");
  await buyer.getByRole("button", { name: "Pay" }).click();
  await expect(buyer).toHaveURL(`${invoiceUrl}?paid=1`);
  await expect(buyer.getByTestId("payment-confirmation")).toHaveText("Payment received. Thank you.");
  await expect(buyer.getByTestId("invoice-status")).toHaveText("paid");
  await expect(buyer.getByRole("button", { name: /by card/ })).toHaveCount(0);

  // The service is active once, however often Stripe said so; move up a plan.
  await buyer.goto("/portal/services");
  const rows = buyer.getByTestId("subscriptions-table").locator("tr", { hasText: `Pod S ${tag}` });
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText("active");
  await rows.getByLabel(`New plan for Pod S ${tag}`).selectOption({ label: `Pod L ${tag} — 29.00 USD monthly` });
  await rows.getByRole("button", { name: "Change plan" }).click();
  await expect(buyer).toHaveURL(/\/portal\/invoices\/[0-9a-f-]{36}$/);
  await expect(buyer.getByTestId("flash")).toContainText(`Pod L ${tag} from now on. Pay`);
  await expect(buyer.getByTestId("invoice-status")).toHaveText("unpaid");
  await expect(buyer.getByTestId("invoice")).toContainText(`Pod L ${tag}`);
  await buyer.goto("/portal/services");
  await expect(buyer.getByTestId("subscriptions-table")).toContainText(`Pod L ${tag}`);

  // Operator: the order is listed with its paid invoice.
  await page.goto("/admin/orders");
  const order = page.getByTestId("orders-table").locator("tr", { hasText: `Card ${tag}` });
  await expect(order).toContainText(`Pod S ${tag}`);
  await expect(order).toContainText("paid");
  await expect(order.getByRole("link", { name: /^INV-/ })).toBeVisible();
  await ctx.close();
});
