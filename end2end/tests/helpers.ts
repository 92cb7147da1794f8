// Shared steps of the browser tests.
import { expect, type Page } from "@playwright/test";

/** Signs in as the operator the test server was started with. */
export async function signIn(page: Page, next = "/admin") {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Email").fill("admin@e2e.test");
  await page.getByLabel("Password").fill("e2e admin password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(new RegExp(`${next.replace(/\//g, "\\/")}$`));
}

/** Adds a customer with a portal login (on the operator's page); returns nothing. */
export async function addCustomerWithLogin(page: Page, name: string, email: string, password: string) {
  await page.goto("/admin/customers");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Add the customer" }).click();
  await expect(page).toHaveURL(/\/admin\/customers\/[0-9a-f-]{36}$/);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create the login" }).click();
  await expect(page.getByTestId("flash")).toContainText("The customer can sign in now.");
}

/** Signs a customer in, landing on `next`. */
export async function signInCustomer(page: Page, email: string, password: string, next: string) {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(new RegExp(`${next.replace(/\//g, "\\/")}$`));
}

/** Reloads `url` until `check` passes (background jobs finishing). */
export async function eventually(page: Page, url: string, check: () => Promise<void>, timeout = 45_000) {
  await expect(async () => {
    await page.goto(url);
    await check();
  }).toPass({ timeout, intervals: [500, 1000, 2000] });
}

/**
 * Runs `fn` holding a lock shared by every Playwright worker (a directory
 * made atomically), for tests whose projects share one resource.
 */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const { mkdirSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = join(tmpdir(), `mooring-e2e-lock-${name}`);
  for (;;) {
    try {
      mkdirSync(dir);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
