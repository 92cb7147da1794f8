// A CloudPod bought and run in the browser, on a real LXC hypervisor node
// (an sshd on loopback, root): the operator adds the node and a CloudPod
// product sized on its page; the customer orders it, the operator marks the
// invoice paid, the pod comes up; the customer stops and starts it; the
// operator suspends and destroys it.
import { expect, test, type Browser, type Page, type TestInfo } from "@playwright/test";
import { addCustomerWithLogin, eventually, signIn, signInCustomer, withLock } from "./helpers";
import { Sshd } from "./sshd";

// The projects take turns: pods go to the one hypervisor the tenant has.
test.setTimeout(300_000);

test("buy a CloudPod, run it, suspend and destroy it", async ({ browser, page }, info) => {
  await withLock("hypervisor", () => flow(browser, page, info));
});

async function flow(browser: Browser, page: Page, info: TestInfo) {
  const tag = `${info.project.name}-${Date.now() % 100000}`;
  const sku = `POD-${tag}`.toUpperCase();
  const email = `pod-${tag}@example.com`;
  const password = "customer portal password";
  const index = info.config.projects.findIndex((p) => p.name === info.project.name);

  // Operator: a hypervisor node.
  await signIn(page, "/admin/servers");
  const key = (await page.getByTestId("node-public-key").textContent())!.trim();
  const node = new Sshd(`127.0.0.${40 + index}`, key);
  await node.start();
  expect(node.user, "LXC needs root on the node").toBe("root");
  try {
    await page.getByLabel("Name", { exact: true }).fill(`hv-${tag}`);
    await page.getByLabel("Host", { exact: true }).fill(node.host);
    await page.getByLabel("SSH port").fill(String(node.port));
    await page.getByLabel("SSH user").fill("root");
    await page.getByLabel("web").uncheck();
    await page.getByLabel("hypervisor").check();
    await page.getByRole("button", { name: "Add the server" }).click();
    await page.getByRole("button", { name: "Test the connection" }).click();
    await expect(page.getByTestId("flash")).toContainText("Connected as root");

    // A CloudPod product, sized on its page.
    await page.goto("/admin/products");
    await page.getByLabel("Name", { exact: true }).fill(`Pod ${tag}`);
    await page.getByLabel("SKU").fill(sku);
    await page.getByLabel("Monthly price", { exact: true }).fill("5");
    await page.getByRole("button", { name: "Add the product" }).click();
    await page.getByRole("link", { name: `Pod ${tag}` }).click();
    await page.getByLabel("Template").selectOption("busybox");
    await page.getByLabel("Memory (MB)").fill("not much");
    await page.getByRole("button", { name: "Save the size" }).click();
    await expect(page.getByTestId("flash")).toContainText("is not a whole number");
    await page.getByLabel("Template").selectOption("busybox");
    await page.getByLabel("Memory (MB)").fill("64");
    // Customers may start and stop these pods, not reboot them.
    await page.getByLabel("reboot", { exact: true }).uncheck();
    await page.getByRole("button", { name: "Save the size" }).click();
    await expect(page.getByTestId("flash")).toContainText(`Saved the size of Pod ${tag}.`);
    await expect(page.getByLabel("Memory (MB)")).toHaveValue("64");
    await expect(page.getByLabel("Template")).toHaveValue("busybox");
    await expect(page.getByLabel("reboot", { exact: true })).not.toBeChecked();

    await addCustomerWithLogin(page, `Pod buyer ${tag}`, email, password);

    // Customer: order it; the operator marks it paid.
    const ctx = await browser.newContext({ ...info.project.use });
    const buyer = await ctx.newPage();
    await signInCustomer(buyer, email, password, "/portal/order");
    const plan = buyer.locator(`[data-plan="${sku}"]`);
    await plan.getByLabel(/5\.00 USD monthly/).check();
    await plan.getByRole("button", { name: /^Order/ }).click();
    await expect(buyer).toHaveURL(/\/portal\/invoices\/[0-9a-f-]{36}$/);
    const invoiceId = buyer.url().split("/").pop()!;
    await page.goto(`/admin/invoices/${invoiceId}`);
    await page.getByRole("button", { name: "Mark paid" }).click();
    await expect(page.getByTestId("flash")).toContainText("is paid now.");

    // The pod comes up on the node.
    const row = buyer.getByTestId("cloudpods-table").locator("tr", { hasText: "pod-" });
    await eventually(buyer, "/portal/cloudpods", async () => {
      await expect(row.getByTestId("cloudpod-status")).toHaveText("active");
    });
    await expect(row).toContainText("10.213.0.");
    await expect(row).toContainText("1 CPU · 64 MB");
    await expect(row.getByRole("button", { name: /^Suspend/ })).toHaveCount(0);
    await expect(row.getByRole("button", { name: /^Reboot/ })).toHaveCount(0);

    // The customer stops and starts it.
    await row.getByRole("button", { name: /^Stop / }).click();
    await expect(buyer.getByTestId("flash")).toContainText("Stopping");
    // No reload by hand: while work is under way the page updates itself.
    await expect(row.getByTestId("cloudpod-power")).toContainText("stopped", { timeout: 40_000 });
    await expect(buyer.getByTestId("pods-updating")).toHaveCount(0, { timeout: 10_000 });
    await row.getByRole("button", { name: /^Start / }).click();
    await eventually(buyer, "/portal/cloudpods", async () => {
      await expect(row.getByTestId("cloudpod-power")).toContainText("running");
    });

    // Operator: suspend, then destroy.
    await page.goto("/admin/cloudpods");
    const adminRow = page.getByTestId("cloudpods-table").locator("tr", { hasText: `Pod buyer ${tag}` });
    await adminRow.getByRole("link", { name: /^pod-/ }).click();
    await expect(page).toHaveURL(/\/admin\/cloudpods\/[0-9a-f-]{36}$/);
    const podUrl = page.url();
    // With JavaScript the page reloads itself as soon as the job ends (the
    // live job island), which can be before this looks: read the message on
    // the page the form sent us back to.
    const [back] = await Promise.all([
      page.waitForResponse(
        (r) => r.url() === podUrl && r.request().method() === "GET" && r.request().resourceType() === "document",
      ),
      page.getByRole("button", { name: /^Suspend / }).click(),
    ]);
    expect(await back.text()).toContain("Suspending");
    await eventually(page, podUrl, async () => {
      await expect(page.getByTestId("cloudpod-status")).toHaveText("suspended");
    });
    await expect(page.getByTestId("cloudpod-power")).toContainText("frozen");
    await page.getByRole("button", { name: /^Destroy / }).click();
    await eventually(page, podUrl, async () => {
      await expect(page.getByTestId("cloudpod-status")).toHaveText("terminated");
    });
    await ctx.close();
    // The node goes with this test: remove it from Mooring.
    await page.goto("/admin/servers");
    await page.getByRole("link", { name: `hv-${tag}` }).click();
    await page.getByRole("button", { name: `Remove hv-${tag}` }).click();
    await expect(page.getByTestId("flash")).toContainText(`Removed hv-${tag}.`);
  } finally {
    await node.dispose();
  }
}
