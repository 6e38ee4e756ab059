// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
// (`npx playwright install` cannot download browsers here), a fresh profile per launch, and a
// folder for screenshots (tests/artifacts/, git-ignored).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS = join(ROOT, 'tests/artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why the browser tests cannot run, or false. Only an explicit opt-out skips them. */
export function browserSkipReason() {
  if (process.env.PLDR_SKIP_BROWSER === '1') return 'PLDR_SKIP_BROWSER=1';
  return false;
}

/**
 * Launches Chromium with a fresh --user-data-dir (a persistent context, so the Cache API and the
 * service worker survive reloads within the launch).
 * @param {{viewport?: {width: number, height: number}}} [options]
 * @returns {Promise<{context: import('playwright-core').BrowserContext, close(): Promise<void>}>}
 */
export async function launchBrowser({ viewport = { width: 1280, height: 860 } } = {}) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    throw new Error(`playwright-core is not installed (make test runs npm install): ${err.message}`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'pldr-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport, timeout: 60_000,
    });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw new Error(`cannot start ${CHROMIUM} (tools/setup.sh installs Debian's chromium): ${err.message}`);
  }
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Records what a page says in its console and the errors it does not catch, for failure messages.
 * @param {import('playwright-core').Page} page
 */
export function watchPage(page) {
  const log = [];
  const errors = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (err) => errors.push(String(err?.stack ?? err)));
  page.on('worker', (worker) => worker.on('console', (m) => log.push(`[worker ${m.type()}] ${m.text()}`)));
  return { log, errors, dump: () => [...errors.map((e) => `[uncaught] ${e}`), ...log].join('\n') };
}

/** Writes tests/artifacts/<name>.png and returns its path. @param {import('playwright-core').Page} page */
export async function screenshot(page, name, options = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, ...options });
  return path;
}
