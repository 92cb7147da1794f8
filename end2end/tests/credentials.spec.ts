// Making and revoking credentials in the admin portal, as a person would.
import { expect, test } from "@playwright/test";
import { signIn } from "./helpers";

test("an API key's secret is shown once, and the key can be revoked", async ({ page }, info) => {
  await signIn(page, "/admin/api-keys");
  const name = `key ${info.project.name}`;
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create the key" }).click();
  await expect(page).toHaveURL(/\/admin\/api-keys$/);
  await expect(page.getByTestId("flash")).toContainText(`Created the API key “${name}”.`);
  const secret = await page.getByTestId("secret").textContent();
  expect(secret).toMatch(/^mk_/);
  // The key works against the API.
  const r = await page.request.get("/api/v1/tokens", { headers: { "x-api-key": secret! } });
  expect(r.status()).toBe(200);
  // Shown once: a reload shows the key's name, not its secret.
  await page.reload();
  await expect(page.getByTestId("secret")).toHaveCount(0);
  await expect(page.getByTestId("api-keys-table")).toContainText(name);
  await page.getByRole("button", { name: `Revoke ${name}` }).click();
  await expect(page.getByTestId("flash")).toHaveText("The API key is revoked.");
  const after = await page.request.get("/api/v1/tokens", { headers: { "x-api-key": secret! } });
  expect(after.status()).toBe(401);
});

test("a form error is said plainly on the page", async ({ page }) => {
  await signIn(page, "/admin/users");
  await page.getByLabel("Name").fill("Too Short");
  await page.getByLabel("Email").fill("short@example.com");
  // The browser's own check would stop a short password before it is sent; skip it to see the server's answer.
  await page.locator("form[action='/admin/users']").evaluate((f) => f.setAttribute("novalidate", ""));
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create the account" }).click();
  await expect(page.getByRole("alert")).toHaveText("Password must be at least 12 characters.");
});
