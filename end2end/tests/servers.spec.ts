// Adding a node in the browser against a real sshd: the operator installs
// Mooring's key, adds the server, tests the connection (its host key is
// pinned, a probe is kept); the node is reinstalled with a new host key,
// which is refused and shown until the operator accepts it.
import { expect, test } from "@playwright/test";
import { signIn } from "./helpers";
import { Sshd } from "./sshd";

test("add a server, pin its host key, accept a changed one", async ({ page }, info) => {
  const name = `node-${info.project.name}-${Date.now() % 100000}`;
  await signIn(page, "/admin/servers");
  const key = (await page.getByTestId("node-public-key").textContent())!.trim();
  expect(key).toMatch(/^ssh-ed25519 /);
  // Each project's node on a loopback address of its own.
  const host = `127.0.0.${20 + info.config.projects.findIndex((p) => p.name === info.project.name)}`;
  const node = new Sshd(host, key);
  await node.start();
  try {
    // A bad role list is refused next to its field.
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("Host", { exact: true }).fill(host);
    await page.getByLabel("SSH port").fill(String(node.port));
    await page.getByLabel("SSH user").fill(node.user);
    await page.getByLabel("web").uncheck();
    await page.getByRole("button", { name: "Add the server" }).click();
    await expect(page.getByTestId("flash")).toContainText("at least one role");

    // The form comes back as it was sent.
    await expect(page.getByLabel("Name", { exact: true })).toHaveValue(name);
    await expect(page.getByLabel("Host", { exact: true })).toHaveValue(host);
    await expect(page.getByLabel("SSH port")).toHaveValue(String(node.port));
    await expect(page.getByLabel("web")).not.toBeChecked();
    await page.getByLabel("web").check();
    await page.getByLabel("backup").check();
    await page.getByRole("button", { name: "Add the server" }).click();
    await expect(page).toHaveURL(/\/admin\/servers\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId("flash")).toContainText(`Added ${name}.`);
    await expect(page.getByTestId("server-status")).toHaveText("offline");
    await expect(page.getByTestId("host-key")).toContainText("not pinned yet");

    await page.getByRole("button", { name: "Test the connection" }).click();
    await expect(page.getByTestId("flash")).toContainText(`Connected as ${node.user}`);
    await expect(page.getByTestId("host-key")).toHaveText(node.fingerprint());
    await expect(page.getByTestId("server-status")).toHaveText(/online|degraded/);
    await expect(page.getByTestId("probes-table")).toContainText("yes");

    // Reinstalled: a new host key is refused until accepted.
    const pinned = node.fingerprint();
    await node.stop();
    node.newHostKey();
    await node.start();
    await page.getByRole("button", { name: "Test the connection" }).click();
    await expect(page.getByTestId("flash")).toContainText("host key changed");
    await expect(page.getByTestId("server-status")).toHaveText("offline");
    await expect(page.getByTestId("host-key")).toHaveText(pinned);
    await expect(page.getByTestId("host-key-changed")).toContainText(node.fingerprint());
    await page.getByRole("button", { name: "Accept the new host key" }).click();
    await expect(page.getByTestId("flash")).toContainText(`is pinned to ${node.fingerprint()} now.`);
    await page.getByRole("button", { name: "Test the connection" }).click();
    await expect(page.getByTestId("flash")).toContainText("Connected as");

    // The list shows it; removing it forgets it.
    await page.goto("/admin/servers");
    const row = page.getByTestId("servers-table").locator("tr", { hasText: name });
    await expect(row).toContainText(/online|degraded/);
    await expect(row).toContainText("web, backup");
    await row.getByRole("link", { name }).click();
    await page.getByRole("button", { name: `Remove ${name}` }).click();
    await expect(page.getByTestId("flash")).toContainText(`Removed ${name}.`);
    await expect(page.getByTestId("servers-table")).not.toContainText(name);
  } finally {
    await node.dispose();
  }
});
