// Signing in and out as a person would, with JavaScript on and off.
import { expect, test } from "@playwright/test";
import { signIn } from "./helpers";

test("sign in, see the dashboard, sign out; the back button does not show it again", async ({ page }) => {
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/login\?next=%2Fadmin$/);
  await signIn(page);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await expect(page.getByTestId("account-email")).toHaveText("admin@e2e.test");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);
  await expect(page.getByRole("status")).toHaveText("You are signed out.");
  await page.goBack();
  // The dashboard was never cached: going back asks the server, which says sign in.
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toHaveCount(0);
});

test("a wrong password is reported next to the form, keeping the email", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Email").fill("admin@e2e.test");
  await page.getByLabel("Password").fill("not the right one");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");
  await expect(page.getByLabel("Email")).toHaveValue("admin@e2e.test");
});
