// A long piece of work as a job: start it, watch it, see how it ended.
import { expect, test } from "@playwright/test";
import { signIn } from "./helpers";

test("a system check runs as a job whose progress and log the page shows", async ({ page }, info) => {
  await signIn(page, "/admin/system");
  await page.getByRole("button", { name: "Run a system check" }).click();
  await expect(page).toHaveURL(/\/admin\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("flash")).toContainText("System check queued.");
  const status = page.getByTestId("job-status");
  if (info.project.use.javaScriptEnabled === false) {
    // Without JavaScript the page is a snapshot: refresh until it has ended.
    for (let i = 0; i < 20 && (await status.textContent()) !== "succeeded"; i++) {
      await page.waitForTimeout(300);
      await page.reload();
    }
  }
  // With JavaScript nobody reloads: the page follows the job's event stream and
  // settles by itself (it reloads once at the end, which also clears the one-time message).
  await expect(status).toHaveText("succeeded", { timeout: 15_000 });
  if (info.project.use.javaScriptEnabled !== false) await expect(page.getByTestId("flash")).toHaveCount(0);
  await expect(page.getByTestId("job-progress")).toHaveAttribute("aria-valuenow", "100");
  await expect(page.getByTestId("job-log")).toContainText("is writable");
  await expect(page.getByTestId("job-log")).toContainText("round trips: min");
  await page.goto("/admin/jobs?status=succeeded");
  await expect(page.getByTestId("jobs-table")).toContainText("system.check");
});

test("the jobs list shows new jobs as they come, without a reload", async ({ page, context }, info) => {
  test.skip(info.project.use.javaScriptEnabled === false, "live updates need JavaScript; without it the list is a snapshot");
  await signIn(page, "/admin/jobs");
  await expect(page.locator(".live-jobs")).toHaveAttribute("data-live", "true");
  const other = await context.newPage();
  await other.goto("/admin/system");
  await other.getByRole("button", { name: "Run a system check" }).click();
  await expect(other).toHaveURL(/\/admin\/jobs\/[0-9a-f-]{36}$/);
  const id = other.url().split("/").pop()!;
  const row = page.locator(`tr[data-job="${id}"]`);
  await expect(row).toBeVisible({ timeout: 10_000 });
  await expect(row).toContainText("system.check");
  await expect(row.locator(".badge")).toHaveText("succeeded", { timeout: 15_000 });
});

test("schedules: run one now, pause and resume it", async ({ page }) => {
  await signIn(page, "/admin/schedules");
  const row = page.locator('tr[data-schedule="system-check"]');
  await expect(row).toContainText("system.check");
  await expect(row).toContainText("0 * * * *");
  await row.getByRole("button", { name: "Run now" }).click();
  await expect(page).toHaveURL(/\/admin\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("flash")).toContainText("The scheduled job is queued now.");
  await page.goto("/admin/schedules");
  const toggle = row.getByRole("button", { name: /Pause|Resume/ });
  if ((await toggle.textContent()) === "Resume") {
    await toggle.click();
    await expect(page.getByTestId("flash")).toContainText("system-check resumed");
  }
  await row.getByRole("button", { name: "Pause" }).click();
  await expect(page.getByTestId("flash")).toContainText("system-check paused.");
  await row.getByRole("button", { name: /Pause|Resume/ }).click();
  await expect(page.getByTestId("flash")).toContainText(/resumed|paused/);
  await page.goto("/admin/audit?type=schedule.");
  await expect(page.getByTestId("audit-table")).toContainText("schedule.paused");
  await expect(page.getByTestId("audit-table")).toContainText("schedule.run_now");
});

test("events and the dashboard report what the queue saw", async ({ page }) => {
  await signIn(page, "/admin/events");
  await expect(page.getByRole("heading", { name: "Events" })).toBeVisible();
  await expect(page.getByTestId("events-table")).toBeVisible();
  await page.getByRole("link", { name: "Errors" }).click();
  await expect(page).toHaveURL(/\/admin\/events\?level=error$/);
  await expect(page.getByTestId("events-table")).toBeVisible();
  await page.goto("/admin");
  await expect(page.getByRole("heading", { name: "Recent events" })).toBeVisible();
  await expect(page.getByTestId("events-table")).toBeVisible();
});
