// Selling a service end to end in the browser: the operator adds a product and a
// customer with a portal login; the customer orders, sees how to pay; the operator
// marks the invoice paid; the customer's service is active and can be cancelled.
import { expect, test } from "@playwright/test";
import { signIn } from "./helpers";

test("order, pay by transfer, activate, cancel", async ({ browser, page }, info) => {
  const tag = `${info.project.name}-${Date.now()}`;
  const sku = `POD-${tag}`.toUpperCase();
  const email = `buyer-${tag}@example.com`;
  const password = "customer portal password";

  // Operator: a product and a customer with a login.
  await signIn(page, "/admin/products");
  await page.getByLabel("Name", { exact: true }).fill(`CloudPod ${tag}`);
  await page.getByLabel("SKU").fill(sku);
  // Not a CloudPod: this test is about billing, not about containers.
  await page.getByLabel("Type").selectOption("backup");
  await page.getByLabel("Monthly price").fill("9.99");
  await page.getByLabel("Yearly price").fill("99");
  await page.getByRole("button", { name: "Add the product" }).click();
  await expect(page.getByTestId("flash")).toContainText(`Added CloudPod ${tag}.`);
  await expect(page.getByTestId("products-table")).toContainText(sku);

  // A bad price is refused next to its field, nothing is added.
  await page.getByLabel("Name", { exact: true }).fill("Broken");
  await page.getByLabel("SKU").fill(`${sku}-X`);
  await page.getByLabel("Monthly price").fill("9.999");
  await page.getByRole("button", { name: "Add the product" }).click();
  await expect(page.getByTestId("flash")).toContainText("decimals");
  await expect(page.getByTestId("products-table")).not.toContainText(`${sku}-X`);

  // A coupon and a tax rate of this test's own region (projects run side by side).
  const region = info.project.name.split("-").map((w) => w[0].toUpperCase()).join("");
  const code = `SAVE${region}${Date.now() % 100000}`;
  await page.goto("/admin/coupons");
  await page.getByLabel("Code").fill(code);
  await page.getByLabel("Percent").fill("10");
  await page.getByRole("button", { name: "Add the coupon" }).click();
  await expect(page.getByTestId("flash")).toContainText(`Added ${code} (10 % off).`);
  await expect(page.locator(`tr[data-coupon="${code}"]`)).toContainText("first invoice");
  await page.goto("/admin/tax-rates");
  await page.getByLabel("Name").fill(`IVA ${region}`);
  await page.getByLabel("Country (2 letters)").fill("PT");
  await page.getByLabel("Region (optional)").fill(region);
  await page.getByLabel("Rate %").fill("23");
  await page.getByLabel("Valid from").fill("2020-01-01");
  await page.getByRole("button", { name: "Add the rate" }).click();
  await expect(page.getByTestId("flash")).toContainText(`Added IVA ${region} for PT.`);
  await expect(page.getByTestId("tax-table")).toContainText(`PT-${region}`);

  await page.goto("/admin/customers");
  await page.getByLabel("Name", { exact: true }).fill(`Buyer ${tag}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Address", { exact: true }).fill("1 Harbour Road");
  await page.getByLabel("City").fill("Lisbon");
  await page.getByLabel("State or region").fill(region);
  await page.getByLabel("Country (2 letters)").fill("PT");
  await page.getByRole("button", { name: "Add the customer" }).click();
  await expect(page).toHaveURL(/\/admin\/customers\/[0-9a-f-]{36}$/);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create the login" }).click();
  await expect(page.getByTestId("flash")).toContainText("The customer can sign in now.");

  // Customer: order it.
  const customerContext = await browser.newContext({ ...info.project.use });
  const buyer = await customerContext.newPage();
  await buyer.goto("/login?next=%2Fportal%2Forder");
  await buyer.getByLabel("Email").fill(email);
  await buyer.getByLabel("Password").fill(password);
  await buyer.getByRole("button", { name: "Sign in" }).click();
  await expect(buyer).toHaveURL(/\/portal\/order$/);
  const plan = buyer.locator(`[data-plan="${sku}"]`);
  await plan.getByLabel(/99\.00 USD yearly/).check();
  // A wrong coupon is refused, and nothing is ordered.
  await plan.getByLabel("Coupon").fill("NOT-A-CODE");
  await plan.getByRole("button", { name: /^Order/ }).click();
  await expect(buyer).toHaveURL(/\/portal\/order$/);
  await expect(buyer.getByTestId("flash")).toContainText("is not a valid coupon");
  await plan.getByLabel(/99\.00 USD yearly/).check();
  await plan.getByLabel("Coupon").fill(code.toLowerCase());
  await plan.getByRole("button", { name: /^Order/ }).click();
  await expect(buyer).toHaveURL(/\/portal\/invoices\/[0-9a-f-]{36}$/);
  // 99.00 − 10 % = 89.10; 23 % tax = 20.49; total 109.59.
  await expect(buyer.getByTestId("flash")).toContainText("Pay 109.59 USD");
  await expect(buyer.getByTestId("invoice-status")).toHaveText("unpaid");
  await expect(buyer.getByTestId("invoice-total")).toHaveText("109.59 USD");
  await expect(buyer.getByTestId("invoice")).toContainText(`IVA ${region} 23 %`);
  await expect(buyer.getByTestId("payment-instructions")).toContainText("bank transfer");
  const invoiceUrl = buyer.url();
  const invoiceId = invoiceUrl.split("/").pop()!;

  // Operator: the money arrived.
  await page.goto(`/admin/invoices/${invoiceId}`);
  await expect(page.getByTestId("invoice")).toContainText(`Buyer ${tag}`);
  await expect(page.getByTestId("invoice")).toContainText("Lisbon");
  await page.getByRole("button", { name: "Mark paid" }).click();
  await expect(page.getByTestId("flash")).toContainText("is paid now.");
  await expect(page.getByTestId("invoice-status")).toHaveText("paid");
  await expect(page.getByRole("button", { name: "Mark paid" })).toHaveCount(0);

  // Customer: the service is active; cancel it at the end of the period.
  await buyer.goto("/portal/services");
  const row = buyer.getByTestId("subscriptions-table").locator("tr", { hasText: `CloudPod ${tag}` });
  await expect(row).toContainText("active");
  await row.getByRole("button", { name: "Cancel at period end" }).click();
  await expect(buyer.getByTestId("flash")).toContainText(`CloudPod ${tag} ends on`);
  await expect(row).toContainText("ends at period end");
  // The operator stops selling the product: the customer's catalog no longer has it.
  await page.goto("/admin/products");
  await page.getByRole("button", { name: `Stop selling CloudPod ${tag}` }).click();
  await expect(page.getByTestId("flash")).toContainText("is no longer sold; its subscriptions go on.");
  await buyer.goto("/portal/order");
  await expect(buyer.locator(`[data-plan="${sku}"]`)).toHaveCount(0);
  // Customers never reach the operator pages.
  await buyer.goto("/admin/invoices");
  await expect(buyer).toHaveURL(/\/portal$/);
  await customerContext.close();
});

test("a refused customer form comes back as it was sent", async ({ page }, info) => {
  const tag = `${info.project.name}-${Date.now()}`;
  await signIn(page, "/admin/customers");
  await page.getByLabel("Name", { exact: true }).fill(`Kept ${tag}`);
  await page.getByLabel("Email").fill(`kept-${tag}@example.com`);
  await page.getByLabel("Address", { exact: true }).fill("1 Harbour Road");
  await page.getByLabel("Country (2 letters)").fill("DE");
  await page.getByRole("button", { name: "Add the customer" }).click();
  await expect(page.locator("#address\\.city-error")).toContainText("City is required.");
  await expect(page.getByLabel("Name", { exact: true })).toHaveValue(`Kept ${tag}`);
  await expect(page.getByLabel("Email")).toHaveValue(`kept-${tag}@example.com`);
  await expect(page.getByLabel("Address", { exact: true })).toHaveValue("1 Harbour Road");
  await page.getByLabel("City").fill("Hamburg");
  await page.getByRole("button", { name: "Add the customer" }).click();
  await expect(page.getByTestId("flash")).toContainText(`Added Kept ${tag}.`);
});
