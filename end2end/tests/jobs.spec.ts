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
