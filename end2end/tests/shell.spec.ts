// The portal shell: pages render on the server, hydrate when JavaScript is on,
// and stay usable when it is off, on desktop and mobile.
import { expect, test, type Page } from "@playwright/test";
import { signIn } from "./helpers";

const jsOn = (page: Page) => test.info().project.use.javaScriptEnabled !== false;

const isMobile = () => test.info().project.name.startsWith("mobile");

/** Collects console errors and failed page requests while a test runs. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  // Without JavaScript, Chromium cancels the module preload: only a failure with it on counts.
  if (jsOn(page)) page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  return errors;
}

test("the start page renders on the server and shows whether it hydrated", async ({ page }) => {
  const errors = watchErrors(page);
  const resp = await page.goto("/");
  expect(resp?.status()).toBe(200);
  // Server-rendered: the HTML as sent already holds the content.
  const html = await resp!.text();
  expect(html).toContain("Hosting, billing and operations in one place.");
  expect(html).toContain('data-hydrated="false"');
  await expect(page.getByRole("heading", { name: "Mooring" })).toBeVisible();
  const badge = page.locator(".live-badge");
  if (jsOn(page)) {
    await expect(badge).toHaveAttribute("data-hydrated", "true");
    await expect(badge).toHaveText("Live");
  } else {
    await expect(badge).toHaveAttribute("data-hydrated", "false");
    await expect(badge).toHaveText("Static");
  }
  expect(errors).toEqual([]);
});

test("the sign-in page has a real form", async ({ page }) => {
  const resp = await page.goto("/login");
  expect(resp?.status()).toBe(200);
  await expect(page).toHaveTitle("Sign in · Mooring");
  const form = page.locator("form");
  await expect(form).toHaveAttribute("method", "post");
  await expect(page.getByLabel("Email")).toHaveAttribute("type", "email");
  await expect(page.getByLabel("Password")).toHaveAttribute("type", "password");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
});

test("the admin dashboard shows the live database status", async ({ page }) => {
  await signIn(page);
  // Let the sign-in's own page finish loading and hydrating (its WASM is
  // fetched after "load"), so the next navigation cancels nothing.
  await page.waitForLoadState("load");
  if (jsOn(page)) await expect(page.locator(".live-badge")).toHaveAttribute("data-hydrated", "true");
  const errors = watchErrors(page);
  const resp = await page.goto("/admin");
  expect(resp?.status()).toBe(200);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  const db = page.getByTestId("db-status");
  await expect(db).toContainText("ok");
  await expect(db).toContainText("sqlite");
  if (jsOn(page)) await expect(page.locator(".live-badge")).toHaveAttribute("data-hydrated", "true");
  expect(errors).toEqual([]);
});

test("navigation works, and folds behind a menu on small screens only with JavaScript", async ({ page }) => {
  await signIn(page);
  const nav = page.getByRole("navigation", { name: "Admin" });
  const toggle = page.getByRole("button", { name: "Menu" });
  if (isMobile() && jsOn(page)) {
    await expect(nav).toBeHidden();
    await toggle.click();
    await expect(nav).toBeVisible();
    await expect(page.getByRole("button", { name: "Close menu" })).toHaveAttribute("aria-expanded", "true");
  } else {
    await expect(nav).toBeVisible();
    await expect(toggle).toBeHidden();
  }
  await nav.getByRole("link", { name: "System" }).click();
  await expect(page).toHaveURL(/\/admin\/system$/);
  await expect(page.getByRole("heading", { name: "System" })).toBeVisible();
  await expect(page.getByRole("row", { name: /Database backend/ })).toContainText("sqlite");
  // A new page load folds the menu again on small screens, so look past visibility.
  await expect(page.locator('nav[aria-label="Admin"] a[href="/admin/system"]')).toHaveAttribute("aria-current", "page");
});

test("the customer portal asks strangers to sign in, and sends operators to theirs", async ({ page }) => {
  await page.goto("/portal");
  await expect(page).toHaveURL(/\/login\?next=%2Fportal$/);
  await signIn(page);
  await page.goto("/portal");
  await expect(page).toHaveURL(/\/admin$/);
});

test("an unknown page answers 404 with a page that helps", async ({ page }) => {
  const resp = await page.goto("/no/such/page");
  expect(resp?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await page.getByRole("link", { name: "Go to the start page" }).click();
  await expect(page).toHaveURL(/\/$/);
});

test("API paths never answer HTML, even for unknown routes", async ({ request }) => {
  for (const [path, shape] of [
    ["/api/nope", "api"],
    ["/api/v1/nope", "rustploy"],
    ["/sites/nope/nothing", "tenant"],
  ] as const) {
    const r = await request.get(path);
    expect(r.status()).toBe(404);
    expect(r.headers()["content-type"]).toContain("application/json");
    const body = await r.json();
    if (shape === "api") expect(body.error.code).toBe("not_found");
    if (shape === "rustploy") expect(body.error.details).toEqual([]);
    if (shape === "tenant") expect(body.ok).toBe(false);
  }
});
