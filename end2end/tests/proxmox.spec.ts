// A Proxmox VE node in the browser, against the Proxmox stand-in (its API
// over HTTPS with its own CA): the operator adds it with an API token and
// the cluster CA (a bad network is refused next to its field), tests the
// connection through the API, makes a VM on it for a customer by hand
// (followed on its page, then destroyed), sees a wrong token refused,
// fixes it, and removes the node. Projects take turns: a hypervisor in the tenant would
// take the LXC test's pods.
import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { addCustomerWithLogin, eventually, signIn, withLock } from "./helpers";

test("add a Proxmox VE node with its API token and CA", async ({ page }, info) => {
  // Waiting for the hypervisor lock counts against the test's time.
  test.setTimeout(180_000);
  await withLock("hypervisor", async () => {
    const name = `pve-${info.project.name}-${Date.now() % 100000}`;
    const url = process.env.MOORING_E2E_PROXMOX_URL!;
    const ca = readFileSync(process.env.MOORING_E2E_PROXMOX_CA!, "utf8");
    await signIn(page, "/admin/servers");
    const fill = async (network: string) => {
      await page.getByLabel("Name", { exact: true }).fill(name);
      await page.getByLabel("Host", { exact: true }).fill("127.0.0.1");
      await page.getByLabel("web").uncheck();
      await page.getByLabel("hypervisor").check();
      await page.getByLabel("Proxmox VE VMs, through its API").check();
      // Folded away unless a Proxmox field was refused.
      if (!(await page.getByLabel("API address").isVisible())) await page.getByText("Proxmox VE settings").click();
      await page.getByLabel("API address").fill(url);
      await page.getByLabel("API token id").fill("mooring@pve!e2e");
      await page.getByLabel("API token secret").fill("e2e-proxmox-secret");
      await page.getByLabel("Template VM id").fill("9000");
      await page.getByLabel("Pod network").fill(network);
      await page.getByLabel(/Cluster CA certificate/).fill(ca);
      await page.getByRole("button", { name: "Add the server" }).click();
    };
    await fill("10.216.0.0");
    await expect(page.getByTestId("flash")).toContainText("network");
    await expect(page.locator("#network-error")).toBeVisible();
    // The form comes back as it was sent, but for the token's secret.
    await expect(page.getByLabel("Name", { exact: true })).toHaveValue(name);
    await expect(page.getByLabel("Proxmox VE VMs, through its API")).toBeChecked();
    await expect(page.getByLabel("hypervisor")).toBeChecked();
    await expect(page.getByLabel("web")).not.toBeChecked();
    await expect(page.getByLabel("API address")).toHaveValue(url);
    await expect(page.getByLabel("Pod network")).toHaveValue("10.216.0.0");
    await expect(page.getByLabel("API token secret")).toHaveValue("");
    await page.getByLabel("API token secret").fill("e2e-proxmox-secret");
    await page.getByLabel("Pod network").fill("10.216.0.0/24");
    await page.getByRole("button", { name: "Add the server" }).click();
    await expect(page).toHaveURL(/\/admin\/servers\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId("flash")).toContainText(`Added ${name}. Test the connection to its API.`);
    await expect(page.getByTestId("hypervisor")).toHaveText("Proxmox VE, node pve, template VM 9000");
    await page.getByRole("button", { name: "Test the connection" }).click();
    await expect(page.getByTestId("flash")).toContainText("Connected to the Proxmox VE API of node pve as mooring@pve!e2e");
    await expect(page.getByTestId("server-status")).toHaveText("online");
    await expect(page.getByTestId("probes-table")).toContainText("yes");

    // A VM made by hand on it for a customer: cloned through the API, its
    // job followed on its page, then destroyed.
    const tag = `${info.project.name}-${Date.now() % 100000}`;
    const sku = `VM-${tag}`.toUpperCase();
    await page.goto("/admin/products");
    await page.getByLabel("Name", { exact: true }).fill(`VM ${tag}`);
    await page.getByLabel("SKU").fill(sku);
    await page.getByLabel("Monthly price", { exact: true }).fill("12");
    await page.getByRole("button", { name: "Add the product" }).click();
    await expect(page.getByTestId("flash")).toContainText(`Added VM ${tag}.`);
    await addCustomerWithLogin(page, `VM owner ${tag}`, `vm-${tag}@example.com`, "customer portal password");
    await page.goto("/admin/cloudpods");
    await page.getByLabel("Customer").selectOption({ label: `VM owner ${tag} <vm-${tag}@example.com>` });
    await page.getByLabel("Product").selectOption({ label: `VM ${tag} (${sku})` });
    await page.getByLabel("Name", { exact: true }).fill(`vm-${tag}`);
    await page.getByRole("button", { name: "Make the CloudPod" }).click();
    await expect(page).toHaveURL(/\/admin\/cloudpods\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId("flash")).toContainText(`Making vm-${tag}`);
    const podUrl = page.url();
    await eventually(page, podUrl, async () => {
      await expect(page.getByTestId("cloudpod-status")).toHaveText("active");
    });
    await expect(page.getByTestId("cloudpod-ip")).toHaveText(/^10\.216\.0\.\d+$/);
    await expect(page.getByTestId("cloudpod-guest")).toHaveText(/^Proxmox VM \d+$/);
    await page.getByRole("button", { name: /^Destroy / }).click();
    await eventually(page, podUrl, async () => {
      await expect(page.getByTestId("cloudpod-status")).toHaveText("terminated");
    });
    await page.goto(`/admin/servers`);
    await page.getByRole("link", { name }).click();

    // A wrong token is refused, clearly; the right one works again. The
    // form keeps the settings; a blank secret keeps the stored one.
    await page.getByLabel("API token secret (blank: keep)").fill("not-the-secret");
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("flash")).toContainText(`Saved how ${name} runs CloudPods.`);
    await page.getByRole("button", { name: "Test the connection" }).click();
    await expect(page.getByTestId("flash")).toContainText("refused Mooring's token");
    await expect(page.getByTestId("server-status")).toHaveText("offline");
    await page.getByLabel("API token secret (blank: keep)").fill("e2e-proxmox-secret");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByLabel("Pod network").fill("10.217.0.0/24");
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("flash")).toContainText("Saved");
    await page.getByRole("button", { name: "Test the connection" }).click();
    await expect(page.getByTestId("server-status")).toHaveText("online");
    await expect(page.locator("table.kv")).toContainText("10.217.0.0/24 via 10.217.0.1");

    // The list says how it is reached; removing it forgets it.
    await page.goto("/admin/servers");
    const row = page.getByTestId("servers-table").locator("tr", { hasText: name });
    await expect(row).toContainText(`${url} (Proxmox VE API, node pve)`);
    await row.getByRole("link", { name }).click();
    await page.getByRole("button", { name: `Remove ${name}` }).click();
    await expect(page.getByTestId("flash")).toContainText(`Removed ${name}.`);
  });
});
