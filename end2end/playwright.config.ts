// Browser tests of Mooring's portals. Playwright drives Debian's Chromium
// (never a downloaded browser) against a real `mooring serve` on SQLite that
// this config starts on loopback with a fresh data directory.
import { defineConfig } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const port = Number(process.env.MOORING_E2E_PORT ?? 18931);
const baseURL = `http://127.0.0.1:${port}`;
const bin = process.env.MOORING_E2E_BIN ?? resolve(__dirname, "../target/debug/mooring");
// Stripe cannot run here: its stand-in (Stripe's API, hosted pay page, signed
// webhooks) delivers each payment's events three times, out of order.
const stripePort = Number(process.env.MOORING_E2E_STRIPE_PORT ?? 18932);
const stripeBin =
  process.env.MOORING_E2E_STRIPE_BIN ?? resolve(__dirname, "../target/debug/mooring-stripe-standin");
const stripeKey = "sk_test_e2e";
const webhookSecret = "whsec_e2e";
// Proxmox VE cannot run here either: its stand-in (the VE API over HTTPS,
// with a CA of its own written where the tests read it).
const proxmoxPort = Number(process.env.MOORING_E2E_PROXMOX_PORT ?? 18933);
const proxmoxBin =
  process.env.MOORING_E2E_PROXMOX_BIN ?? resolve(__dirname, "../target/debug/mooring-proxmox-standin");
const dataDir = process.env.MOORING_E2E_DATA_DIR ?? mkdtempSync(join(tmpdir(), "mooring-e2e-"));
// Workers load this file again: they must see the same directory.
process.env.MOORING_E2E_DATA_DIR = dataDir;
export const proxmox = {
  url: `https://127.0.0.1:${proxmoxPort}`,
  tokenId: "mooring@pve!e2e",
  tokenSecret: "e2e-proxmox-secret",
  caFile: join(dataDir, "proxmox-ca.pem"),
};
process.env.MOORING_E2E_PROXMOX_URL = proxmox.url;
process.env.MOORING_E2E_PROXMOX_CA = proxmox.caFile;
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const launchOptions = {
  executablePath: chromium,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};
const desktop = { viewport: { width: 1280, height: 800 } };
const mobile = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  retries: 0,
  workers: 2,
  reporter: [["list"]],
  use: { baseURL, launchOptions, trace: "off" },
  projects: [
    { name: "desktop-js", use: { ...desktop, javaScriptEnabled: true } },
    { name: "desktop-nojs", use: { ...desktop, javaScriptEnabled: false } },
    { name: "mobile-js", use: { ...mobile, javaScriptEnabled: true } },
    { name: "mobile-nojs", use: { ...mobile, javaScriptEnabled: false } },
  ],
  webServer: [
    {
      command: `${stripeBin} --listen 127.0.0.1:${stripePort} --secret-key ${stripeKey} --webhook-secret ${webhookSecret} --webhook-url ${baseURL}/api/payments/stripe/webhook --thrice-out-of-order`,
      port: stripePort,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "pipe",
      stderr: "pipe",
    },
    {
      command: `${proxmoxBin} --listen 127.0.0.1:${proxmoxPort} --token-id '${proxmox.tokenId}' --token-secret ${proxmox.tokenSecret} --ca-out ${proxmox.caFile}`,
      port: proxmoxPort,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "pipe",
      stderr: "pipe",
    },
    {
      command: `${bin} serve`,
      url: `${baseURL}/health`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "pipe",
      stderr: "pipe",
      env: {
        MOORING_BIND: `127.0.0.1:${port}`,
        MOORING_DATA_DIR: dataDir,
        MOORING_ADMIN_EMAIL: "admin@e2e.test",
        MOORING_ADMIN_PASSWORD: "e2e admin password",
        MOORING_STRIPE_SECRET_KEY: stripeKey,
        MOORING_STRIPE_WEBHOOK_SECRET: webhookSecret,
        MOORING_STRIPE_API_BASE: `http://127.0.0.1:${stripePort}/`,
        MOORING_PAYMENT_INSTRUCTIONS: "Or pay by bank transfer to IBAN PT50 0000 0000 0000 0000 0000 0 and quote the invoice number.",
        ...(process.env.MOORING_SITE_DIR ? { MOORING_SITE_DIR: process.env.MOORING_SITE_DIR } : {}),
      },
    },
  ],
});
