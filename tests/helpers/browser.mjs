// Browsers for the tests, all of them Debian's packages (nothing downloads a browser build):
//
//   launchBrowser()       headless Chromium (/usr/bin/chromium) under playwright-core, with a fresh
//                         profile per launch: the chat page's own suite (tests/browser.test.mjs)
//   launch(engine)        one small driver over three engines, so a check is written once and runs
//                         in each (tests/engines.test.mjs, tests/package.test.mjs):
//     chromium            playwright-core over CDP
//     firefox             firefox-esr, headless, under puppeteer-core over WebDriver BiDi
//     webkit              WebKitGTK's MiniBrowser (--automation) driven by WebKitWebDriver over plain
//                         W3C WebDriver (a handful of HTTP commands: no client library needed), on
//                         a private Xvfb display
//
// Screenshots go to tests/artifacts/ (git-ignored). What went over the network is counted by the
// test servers (tools/serve.mjs logs every request), which see every engine alike.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

// --- one driver, three engines -----------------------------------------------------------------

/** @typedef {'chromium'|'firefox'|'webkit'} EngineName */
export const ENGINE_NAMES = /** @type {EngineName[]} */ (['chromium', 'firefox', 'webkit']);

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER_PATH ?? '/usr/bin/WebKitWebDriver';
const MULTIARCH = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim() || 'x86_64-linux-gnu';
export const MINIBROWSER = process.env.MINIBROWSER_PATH ?? `/usr/lib/${MULTIARCH}/webkit2gtk-4.1/MiniBrowser`;
const XVFB = '/usr/bin/Xvfb';

/** Why `engine` cannot run here (its Debian package is missing), or false. @param {EngineName} engine */
export function engineMissing(engine) {
  const browserSkip = browserSkipReason();
  if (browserSkip) return browserSkip;
  const need = { chromium: [[CHROMIUM, 'chromium']], firefox: [[FIREFOX, 'firefox-esr']],
    webkit: [[WEBKIT_DRIVER, 'webkit2gtk-driver'], [MINIBROWSER, 'webkit2gtk-driver (MiniBrowser)'], [XVFB, 'xvfb']] }[engine];
  const missing = need.filter(([path]) => !existsSync(path)).map(([path, pkg]) => `${path} (Debian package ${pkg})`);
  return missing.length ? `${engine}: ${missing.join(', ')} not installed (tools/setup.sh installs it)` : false;
}

/**
 * A browser with one tab, the same few calls in every engine. Functions given to evaluate() and
 * waitFor() run in the page: they must not use variables from the test (pass `arg`, JSON values).
 * @typedef {{
 *   engine: EngineName, version: string,
 *   goto(url: string): Promise<void>,
 *   reload(): Promise<void>,
 *   evaluate<A, R>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R>,
 *   waitFor<A, R>(fn: (arg: A) => R | Promise<R>, arg?: A, options?: {timeout?: number, what?: string}): Promise<R>,
 *   click(selector: string): Promise<void>,
 *   type(selector: string, text: string): Promise<void>,
 *   press(selector: string, key: 'Enter'|'Escape'): Promise<void>,
 *   screenshot(name: string): Promise<string>,
 *   log(): string,
 *   close(): Promise<void>,
 * }} Driver
 */

/**
 * Starts `engine` with a fresh profile (the Cache API and service workers persist across reloads
 * within the launch).
 * @param {EngineName} engine @param {{width?: number, height?: number}} [viewport] @returns {Promise<Driver>}
 */
export async function launch(engine, { width = 1280, height = 860 } = {}) {
  const missing = engineMissing(engine);
  if (missing) throw new Error(missing);
  if (engine === 'chromium') return launchChromium({ width, height });
  if (engine === 'firefox') return launchFirefox({ width, height });
  if (engine === 'webkit') return launchWebKit({ width, height });
  throw new Error(`unknown browser engine ${engine}`);
}

/** Polls `check` (in Node) until it returns something truthy. */
async function poll(check, { timeout = 60_000, interval = 100, what = 'a condition' } = {}) {
  const until = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Runs `fn(arg)` in the page and waits for it to be truthy, re-running it every 100 ms. */
function waitWithEvaluate(evaluate) {
  return (fn, arg, { timeout = 60_000, what = String(fn).slice(0, 120) } = {}) =>
    poll(() => evaluate(fn, arg), { timeout, what });
}

async function launchChromium(viewport) {
  const { context, close } = await launchBrowser({ viewport });
  const page = context.pages()[0] ?? await context.newPage();
  const watch = watchPage(page);
  const evaluate = (fn, arg) => page.evaluate(fn, arg);
  return {
    engine: 'chromium', version: context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent)),
    goto: async (url) => { await page.goto(url); },
    reload: async () => { await page.reload(); },
    evaluate, waitFor: waitWithEvaluate(evaluate),
    click: (s) => page.click(s),
    type: (s, text) => page.fill(s, text),
    press: (s, key) => page.press(s, key),
    screenshot: (name) => screenshot(page, `${name}-chromium`),
    log: watch.dump,
    close,
  };
}

async function launchFirefox({ width, height }) {
  let puppeteer;
  try {
    ({ default: puppeteer } = await import('puppeteer-core'));
  } catch (err) {
    throw new Error(`puppeteer-core is not installed (make test runs npm install): ${err.message}`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'pldr-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath: FIREFOX, headless: true, userDataDir, timeout: 60_000,
    defaultViewport: { width, height },
    // no updates, telemetry or first-run pages; service workers on http://localhost are allowed as is
    extraPrefsFirefox: { 'app.update.enabled': false, 'datareporting.policy.dataSubmissionEnabled': false,
      'browser.shell.checkDefaultBrowser': false, 'toolkit.telemetry.enabled': false },
  }).catch((err) => {
    rmSync(userDataDir, { recursive: true, force: true });
    throw new Error(`cannot start ${FIREFOX} (tools/setup.sh installs Debian's firefox-esr): ${err.message}`);
  });
  const page = (await browser.pages())[0] ?? await browser.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (err) => log.push(`[uncaught] ${err?.stack ?? err}`));
  const evaluate = (fn, arg) => page.evaluate(fn, arg);
  return {
    engine: 'firefox', version: await browser.version(),
    goto: async (url) => { await page.goto(url); },
    reload: async () => { await page.reload(); },
    evaluate, waitFor: waitWithEvaluate(evaluate),
    click: (s) => page.click(s),
    type: async (s, text) => {
      await page.$eval(s, (el) => { /** @type {HTMLInputElement} */ (el).value = ''; });
      await page.type(s, text);
    },
    press: async (s, key) => { await page.focus(s); await page.keyboard.press(key); },
    async screenshot(name) {
      mkdirSync(ARTIFACTS, { recursive: true });
      const path = join(ARTIFACTS, `${name}-firefox.png`);
      await page.screenshot({ path });
      return path;
    },
    log: () => log.join('\n'),
    async close() {
      await browser.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Starts a child process that must keep running; rejects when it exits early. */
function startProcess(command, args, options) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout?.on('data', (d) => { output = (output + d).slice(-4000); });
  child.stderr?.on('data', (d) => { output = (output + d).slice(-4000); });
  return { child, output: () => output };
}

/** An X server of our own on a free display (Xvfb -displayfd), for MiniBrowser's window. */
async function startXvfb({ width, height }) {
  const child = spawn(XVFB, ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (d) => { errors = (errors + d).slice(-2000); });
  const display = await new Promise((resolve, reject) => {
    let text = '';
    child.stdio[3].on('data', (d) => {
      text += d;
      if (text.includes('\n')) resolve(`:${text.trim()}`);
    });
    child.on('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${errors}`)));
    setTimeout(() => reject(new Error(`Xvfb did not start: ${errors}`)), 15_000);
  });
  return { display, stop: () => child.kill() };
}

/** A free TCP port on 127.0.0.1. */
async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}

async function launchWebKit(viewport) {
  const xvfb = await startXvfb(viewport);
  const port = await freePort();
  const driver = startProcess(WEBKIT_DRIVER, [`--port=${port}`, '--host=127.0.0.1'], { env: { ...process.env, DISPLAY: xvfb.display } });
  const base = `http://127.0.0.1:${port}`;
  let sessionId = null;
  const stop = () => { driver.child.kill(); xvfb.stop(); };

  /** One W3C WebDriver command; throws with the driver's error. */
  async function command(method, path, body) {
    const url = sessionId ? `${base}/session/${sessionId}${path}` : `${base}${path}`;
    const response = await fetch(url, { method, headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body) });
    const json = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error ?? response.status}: ${json.value?.message ?? ''}`);
    return json.value;
  }

  try {
    await poll(() => fetch(`${base}/status`).then((r) => r.ok, () => false), { timeout: 20_000, what: `WebKitWebDriver on port ${port}: ${driver.output()}` });
    const session = await command('POST', '/session', { capabilities: { alwaysMatch: {
      browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } } } });
    sessionId = session.sessionId;
    await command('POST', '/timeouts', { script: 300_000, pageLoad: 60_000 });
    await command('POST', '/window/rect', { width: viewport.width, height: viewport.height }).catch(() => {});
    const version = session.capabilities?.browserVersion ?? '?';

    // the page's uncaught errors and console errors, kept in the page for log()
    const CAPTURE = `if (!window.__pldrLog) { window.__pldrLog = [];
      addEventListener('error', (e) => window.__pldrLog.push('[uncaught] ' + (e.error?.stack ?? e.message)));
      addEventListener('unhandledrejection', (e) => window.__pldrLog.push('[unhandled] ' + (e.reason?.stack ?? e.reason))); }`;
    let lastLog = '';
    /** @type {Driver['evaluate']} */
    const evaluate = async (fn, arg) => {
      const script = `const [arg, done] = arguments; ${CAPTURE}
        Promise.resolve().then(() => (${fn})(arg)).then((value) => done({ value: value === undefined ? null : value }),
          (err) => done({ error: String(err?.stack ?? err), message: String(err?.message ?? err) }));`;
      const out = await command('POST', '/execute/async', { script, args: [arg ?? null] });
      if (out?.error) throw Object.assign(new Error(`in WebKit: ${out.message}`), { pageStack: out.error });
      return out?.value;
    };
    const element = async (selector) => {
      const found = await command('POST', '/element', { using: 'css selector', value: selector });
      return Object.values(found)[0];
    };
    const KEYS = { Enter: '\uE007', Escape: '\uE00C' };
    return {
      engine: 'webkit', version,
      goto: async (url) => { await command('POST', '/url', { url }); },
      reload: async () => { await command('POST', '/refresh', {}); },
      evaluate, waitFor: waitWithEvaluate(evaluate),
      click: async (s) => { await command('POST', `/element/${await element(s)}/click`, {}); },
      type: async (s, text) => {
        const id = await element(s);
        await command('POST', `/element/${id}/clear`, {});
        await command('POST', `/element/${id}/value`, { text });
      },
      press: async (s, key) => { await command('POST', `/element/${await element(s)}/value`, { text: KEYS[key] }); },
      async screenshot(name) {
        mkdirSync(ARTIFACTS, { recursive: true });
        const path = join(ARTIFACTS, `${name}-webkit.png`);
        writeFileSync(path, Buffer.from(await command('GET', '/screenshot'), 'base64'));
        return path;
      },
      log: () => lastLog,
      async close() {
        lastLog = await evaluate(() => (/** @type {any} */ (window).__pldrLog ?? []).join('\n')).catch(() => lastLog);
        await command('DELETE', '').catch(() => {});
        stop();
      },
    };
  } catch (err) {
    stop();
    throw new Error(`cannot start WebKit (${MINIBROWSER} under ${WEBKIT_DRIVER}): ${err.message}\n${driver.output()}`);
  }
}
