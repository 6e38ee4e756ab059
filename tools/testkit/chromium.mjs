// Headless Chromium for what Node cannot run, shared by the tests and the benchmarks: Node 20's
// V8 (11.3) validates relaxed SIMD only behind --experimental-wasm-relaxed-simd and then computes
// i32x4.relaxed_dot_i8x16_i7x16_add_s wrong (twice the dot product), while Chromium ships it. A
// page served from the repository (tools/serve.mjs: wasm MIME type, COOP/COEP) can import the
// runtime's modules and run the WASI programs through tools/testkit/wasi-lite.js.
import { fileURLToPath } from 'node:url';
import { startServer } from '../serve.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/**
 * Chromium with one page on the repository's origin (an empty page, /tools/testkit/blank.html).
 * @param {{root?: string}} [options]
 * @returns {Promise<{page: import('playwright-core').Page, url: string, log: string[], close(): Promise<void>}>}
 */
export async function openRepoPage(options = {}) {
  const { chromium } = await import('playwright-core');
  const server = await startServer({ root: options.root ?? ROOT });
  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
  } catch (err) {
    await server.close();
    throw new Error(`cannot start ${CHROMIUM} (tools/setup.sh installs Debian's chromium): ${err.message}`);
  }
  const page = await browser.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (err) => log.push(`[uncaught] ${err?.stack ?? err}`));
  await page.goto(`${server.url}tools/testkit/blank.html`);
  return {
    page, url: server.url, log,
    async close() {
      await browser.close().catch(() => {});
      await server.close();
    },
  };
}

/**
 * Runs a WASI program of the repository (path relative to it) in a Chromium page.
 * @param {import('playwright-core').Page} page @param {string} wasmPath @param {string[]} [args]
 * @returns {Promise<{status: number, stdout: string, stderr: string}>}
 */
export function runWasiInPage(page, wasmPath, args = []) {
  return page.evaluate(async ([path, argv]) => {
    const { runWasiLite } = await import('/tools/testkit/wasi-lite.js');
    const bytes = await (await fetch(`/${path}`)).arrayBuffer();
    return runWasiLite(bytes, ['program', ...argv]);
  }, [wasmPath, args]);
}
