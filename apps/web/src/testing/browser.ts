import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium, launched as measured on this project's machines (DEVELOPERS.md). */
export const CHROMIUM = process.env.APISNOOP_CHROMIUM ?? "/usr/bin/chromium";

/** A headless Chromium page that records console errors and uncaught page errors. */
export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Launches Chromium in a temporary profile with a 1280x900 viewport; `httpCredentials` answers the
 * dashboard's sign-in challenge as a user typing them into the browser's prompt would.
 */
export async function launchBrowser(
  options: { httpCredentials?: { username: string; password: string } } = {},
): Promise<TestBrowser> {
  const profile = mkdtempSync(path.join(tmpdir(), "apisnoop-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 900 },
    ...(options.httpCredentials ? { httpCredentials: options.httpCredentials } : {}),
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => errors.push(`page: ${error.message}`));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
