/**
 * Debian's Chromium driven by playwright-core for the console's tests (nothing downloaded): the flags
 * it needs as root on a closed network, screenshots into one folder, and an axe-core scan.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { expect } from "vitest";

export const CHROMIUM = "/usr/bin/chromium";
/** CI installs Chromium (.ci/run); elsewhere the browser tests run when it is there. */
export const RUN_BROWSER_TESTS = existsSync(CHROMIUM) || process.env.CI === "true";
export const SCREENSHOTS = join(tmpdir(), "doppel-console-screenshots");

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** A headless Chromium with a fresh profile, printing where screenshots go. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "doppel-chromium-"));
  mkdirSync(SCREENSHOTS, { recursive: true });
  console.log(`console screenshots: ${SCREENSHOTS}`);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      // The preview player is checked playing in a page no one clicked in.
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot of the page as `<name>.png` and fails on any serious accessibility violation. */
export async function accessible(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const { violations } = await new AxeBuilder({ page }).analyze();
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
}

/** Opens the console and signs in with a project's id and token. */
export async function signInToProject(
  page: Page,
  baseUrl: string,
  project: { readonly id: string; readonly token: string },
): Promise<void> {
  await page.goto(`${baseUrl}/console/`);
  await page.getByLabel("Project id").fill(project.id);
  await page.getByLabel("Token", { exact: true }).fill(project.token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Run in the page: how wide its content is, in CSS pixels (wider than the viewport scrolls sideways). */
export function pageWidth(): number {
  // The DOM's document, as far as used (the tests compile without the DOM's types).
  return (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
    .documentElement.scrollWidth;
}
