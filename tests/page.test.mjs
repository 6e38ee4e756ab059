// The chat page as people use it (issue 12), in headless Chromium over tools/serve.mjs: a failed,
// cancelled or mistyped load keeps the model that was there; the page says what is loaded and
// what a setting change needs; drawers, names and contrast for keyboards and screen readers;
// context shifts and overlong prompts said once, in the right place; out-of-range settings said
// at the field; model addresses as people type them; replies as text (never markup) with code
// blocks, Copy, Regenerate, Edit, a system prompt and min-p; conversations kept across reloads,
// listed, deleted and exported; the models kept in the browser; ?model= and its cross-origin
// confirmation; the Content-Security-Policy. Screenshots of the new states: tests/artifacts/page-*.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { startServer } from '../tools/serve.mjs';
import { ARTIFACTS, ROOT, browserSkipReason, launchBrowser, screenshot, watchPage } from './helpers/browser.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';
import { writeSyntheticFolder } from '../tools/testkit/synthetic.mjs';
import { spawnSync } from 'node:child_process';

const MODEL_DIR = join(ROOT, 'models/pldr-tiny');
const MODELS = join(ARTIFACTS, 'models');
const LOAD_TIMEOUT = 90_000;
const REPLY_TIMEOUT = 90_000;
const SHARD = /\.safetensors$/;
const skip = skipUnlessCI(browserSkipReason());
const pythonMissing = skipUnlessCI(spawnSync('python3', ['--version']).status === 0 ? false : 'python3 not installed');
/** Greedy settings typed into the page, and the same options for the Node engine. */
const GREEDY = { temperature: 0, topK: 40, topP: 0.95, minP: 0, maxTokens: 20, repetitionPenalty: 1 };
const LOOPING = 'Once upon a time, in a small village by the sea,';

/** A copy of pldr-tiny (links to its files) under tests/artifacts/models/<name>, with `replace` files written. */
function tinyCopy(name, { without = [], replace = {} } = {}) {
  const dir = join(MODELS, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(MODEL_DIR)) {
    if (!without.includes(file) && !(file in replace)) symlinkSync(join(MODEL_DIR, file), join(dir, file));
  }
  for (const [file, text] of Object.entries(replace)) writeFileSync(join(dir, file), text);
  return `../tests/artifacts/models/${name}/`;
}

/** Relative luminance and contrast ratio (WCAG 2). @param {number[]} a @param {number[]} b */
function contrast(a, b) {
  const lum = ([r, g, bl]) => {
    const c = [r, g, bl].map((v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('chat page: issue 12', { skip }, () => {
  /** @type {Awaited<ReturnType<typeof startServer>>} */
  let server;
  /** @type {Awaited<ReturnType<typeof startServer>>} the same files on another origin (127.0.0.1 against localhost) */
  let other;
  /** @type {Awaited<ReturnType<typeof launchBrowser>>} */
  let browser;
  /** @type {import('../js/pldr.js').Engine} */
  let node;

  before(async () => {
    mkdirSync(MODELS, { recursive: true });
    server = await startServer({ root: ROOT });
    other = await startServer({ root: ROOT, host: '127.0.0.1' });
    other.url = other.url.replace('localhost', '127.0.0.1');
    browser = await launchBrowser();
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(server.url).origin });
    node = await PLDR.load(MODEL_DIR);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await other?.close();
    node?.free();
  });

  const url = (path) => new URL(path, server.url).href;

  async function open(path = 'web/', { width = 1280, height = 860, colorScheme = 'light' } = {}) {
    const p = await browser.context.newPage();
    await p.setViewportSize({ width, height });
    await p.emulateMedia({ colorScheme });
    const watch = watchPage(p);
    await p.goto(url('web/icon.svg'));
    await p.evaluate(() => localStorage.clear());   // each test starts from the page's defaults
    await p.goto(url(path));
    return { p, watch };
  }

  /** Waits until the page is ready (or not loading any more) and says what it shows otherwise. */
  async function waitReady(p, watch, want = 'ready') {
    await p.waitForFunction(() => !['starting', 'loading'].includes(document.body.dataset.state), null, { timeout: LOAD_TIMEOUT });
    const state = await p.evaluate(() => document.body.dataset.state);
    if (state !== want) assert.fail(`page state ${state}, not ${want}: ${await p.locator('#error').innerText().catch(() => '')}\n${watch.dump()}`);
  }

  async function set(p, id, value, event = 'change') {
    await p.evaluate(([id, value, event]) => {
      const el = /** @type {HTMLInputElement} */ (document.getElementById(id));
      if (!el) throw new Error(`the page has no #${id}`);
      el.value = String(value);
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event(event, { bubbles: true }));
    }, [id, value, event]);
  }

  async function greedy(p, extra = {}) {
    for (const [id, value] of Object.entries({ ...GREEDY, ...extra })) {
      if (id === 'minP' && value === 0 && !(await p.locator('#minP').count())) continue;   // (the page before min-p)
      await set(p, id, value);
    }
    await p.locator('input[name="mode"][value="chat"]').check({ force: true });
  }

  /** Sends `text` with Enter and waits for its reply to end; returns the reply's data and text. */
  async function ask(p, text) {
    const n = await p.locator('.reply').count();
    await p.locator('#input').fill(text);
    await p.locator('#input').press('Enter');
    return lastReply(p, n);
  }

  async function lastReply(p, n) {
    await p.waitForFunction((i) => {
      const el = document.querySelectorAll('.reply')[i];
      return el && el.getAttribute('data-state') !== 'streaming';
    }, n, { timeout: REPLY_TIMEOUT });
    return p.locator('.reply').nth(n).evaluate((el) => ({ state: el.dataset.state, text: el.querySelector('.text, .completion')?.textContent ?? '' }));
  }

  async function nodeReply(messages, options = GREEDY) {
    return (await node.respond(messages, options).result).text.trimStart();
  }

  test('a failed, cancelled or mistyped load leaves the model that was there ready, with its conversation', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      await greedy(p);
      const first = await ask(p, 'Hello! What is your name?');
      const expected1 = await nodeReply([{ role: 'user', content: 'Hello! What is your name?' }]);
      assert.equal(first.text, expected1);
      await p.locator('#model-choice').selectOption('custom');
      for (const [typed, code] of [[url('no/such/model/'), 'E_NOT_FOUND'], ['/no/such/model/', 'E_NOT_FOUND'], ['ftp://example.org/model/', 'E_SOURCE'], ['', 'E_SOURCE']]) {
        await p.locator('#model-url').fill(typed);
        await p.locator('#load').click();
        await p.locator('#error').waitFor({ state: 'visible' });
        await p.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: LOAD_TIMEOUT });
        assert.equal(await p.locator('#error').getAttribute('data-code'), code, typed);
        assert.equal(await p.evaluate(() => document.body.dataset.state), 'ready', `after "${typed}" the old model is ready`);
        assert.match(await p.locator('#model-pill').innerText(), /pldr-tiny · f32/);
        assert.equal(await p.locator('#send').isDisabled(), false);
      }
      assert.match(await p.locator('#status').innerText(), /pldr-tiny is still loaded and ready/);
      await screenshot(p, 'page-failed-load-kept');
      // cancelled: a model whose server is slow to answer, stopped while it loads
      await p.route('**/slow-model/**', async (route) => { await new Promise((r) => setTimeout(r, 20_000)); await route.abort().catch(() => {}); });
      await p.locator('#model-url').fill(url('slow-model/'));
      await p.locator('#load').click();
      await p.locator('#cancel-load').click();
      await waitReady(p, watch);
      assert.match(await p.locator('#status').innerText(), /Loading cancelled\. pldr-tiny is still loaded and ready/);
      assert.match(await p.locator('#model-pill').innerText(), /pldr-tiny · f32/);
      // the conversation goes on where it was, in the model that stayed
      const second = await ask(p, 'Tell me about the sea.');
      const expected2 = await nodeReply([{ role: 'user', content: 'Hello! What is your name?' }, { role: 'assistant', content: expected1 },
        { role: 'user', content: 'Tell me about the sea.' }]);
      assert.equal(second.text, expected2);
      assert.deepEqual(watch.errors, []);
    } finally {
      await p.close();
    }
  });

  test('when both models would not fit, the old one is freed first and the page says so', async () => {
    const noShards = tinyCopy('no-shards', { without: readdirSync(MODEL_DIR).filter((f) => SHARD.test(f) || f.endsWith('.index.json')) });
    const { p, watch } = await open('web/embed.html');
    try {
      const out = await p.evaluate(async (path) => {
        const { ChatController } = await import('../js/browser/chat-controller.js');
        const chat = new ChatController();
        const events = [];
        for (const type of ['replacing', 'cancel', 'error', 'load']) {
          chat.addEventListener(type, (e) => events.push(type === 'error' ? `error ${e.detail.during} ${e.detail.error.code}` : type));
        }
        await chat.load('../models/pldr-tiny/');
        const kept = chat.model !== null;
        await chat.load(path).catch(() => {}); // fits: the old model stays
        const keptAfterFitting = chat.state;
        await chat.load(path, { memoryBudget: 1 }).catch(() => {}); // does not fit: freed first
        const state = chat.state;
        chat.dispose();
        return { kept, keptAfterFitting, state, events };
      }, noShards);
      assert.deepEqual(out, { kept: true, keptAfterFitting: 'ready', state: 'empty',
        events: ['load', 'error load E_NOT_FOUND', 'replacing', 'error load E_NOT_FOUND'] }, watch.dump());
    } finally {
      await p.close();
    }
  });

  test('a predefined-G model says so: its G is not computed on the first prompt', async () => {
    const dir = join(MODELS, 'predefined-g');
    rmSync(dir, { recursive: true, force: true });
    writeSyntheticFolder(dir, { L: 2, D: 64, H: 2, dff: 96, Adff: 24, nres: 2, ndense: 2, V: 8000, ctx: 128, customG: 'identity' },
      join(MODEL_DIR, 'tokenizer.model'));
    const { p, watch } = await open('web/?model=../tests/artifacts/models/predefined-g/');
    try {
      await waitReady(p, watch);
      const status = await p.locator('#status').innerText();
      assert.match(status, /predefined G: the A-net never runs/);
      assert.doesNotMatch(status, /computed on the first prompt/);
      assert.match(await p.locator('#model-info').innerText(), /G-cache predefined/);
      await greedy(p, { maxTokens: 4 });
      await ask(p, 'Hi');
      assert.match(await p.locator('#status').innerText(), /predefined G_LM of the checkpoint: no A-net/);
    } finally {
      await p.close();
    }
  });

  test('the pill shows the weights as stored: a q8 folder is q8 even when f32 is asked for', { skip: pythonMissing }, async () => {
    const dir = join(MODELS, 'tiny-q8');
    const r = spawnSync('python3', [join(ROOT, 'tools/convert'), MODEL_DIR, dir, '--dtype', 'q8', '--quiet', '--force'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { p, watch } = await open('web/?model=../tests/artifacts/models/tiny-q8/&quant=f32');
    try {
      await waitReady(p, watch);
      assert.match(await p.locator('#model-pill').innerText(), /tiny-q8 · q8/);
      assert.match(await p.locator('#model-info').innerText(), /weights q8 \(A-net f32\)/);
      assert.equal(await p.locator('#load-hint').isVisible(), false, 'f32 was asked for and is what the form says: nothing to load');
    } finally {
      await p.close();
    }
  });

  test('a changed Weights or G-cache says it needs Load; after loading, the status describes the mode in force', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      assert.equal(await p.locator('#load-hint').isVisible(), false);
      await p.locator('#gcache').selectOption('off');
      assert.match(await p.locator('#load-hint').innerText(), /Press “Load model” to change the G-cache: now pldr-tiny · f32 · G-cache first prompt/);
      await p.locator('#quant').selectOption('q8');
      assert.match(await p.locator('#load-hint').innerText(), /change the weights and the G-cache/);
      await screenshot(p, 'page-load-hint');
      await p.locator('#load').click();
      await waitReady(p, watch);
      assert.equal(await p.locator('#load-hint').isVisible(), false, 'in force now');
      assert.match(await p.locator('#model-pill').innerText(), /pldr-tiny · q8/);
      assert.match(await p.locator('#status').innerText(), /G-cache is off/);
      await p.locator('#new-chat').click();
      const status = await p.locator('#status').innerText();
      assert.match(status, /The G-cache is off/);
      assert.doesNotMatch(status, /stays/);
    } finally {
      await p.evaluate(() => localStorage.clear());
      await p.close();
    }
  });

  test('keyboard and screen readers: closed drawers are out of the Tab order, the slider has a name, white text has 4.5:1', async () => {
    const { p, watch } = await open('web/', { width: 390, height: 844 });
    try {
      await waitReady(p, watch);
      await greedy(p, { maxTokens: 2 });
      await ask(p, 'Hi');
      const focused = [];
      for (let i = 0; i < 30; i++) { // from the message box, round the whole page
        await p.keyboard.press('Tab');
        focused.push(await p.evaluate(() => {
          const el = document.activeElement;
          return { id: el?.id || el?.className || el?.tagName, inDrawer: !!el?.closest('#panel, #history') };
        }));
      }
      assert.ok(focused.some((f) => f.id === 'skip'), `the Tab order went round the page: ${focused.map((f) => f.id).join(', ')}`);
      assert.deepEqual(focused.filter((f) => f.inDrawer), [], 'no control of a closed drawer takes the focus');
      await p.locator('#panel-toggle').click();
      await p.waitForFunction(() => !document.getElementById('panel').inert);
      assert.equal(await p.evaluate(() => document.activeElement?.closest('#panel') !== null), true, 'an opened drawer takes the focus');
      await p.keyboard.press('Escape');
      await p.waitForFunction(() => document.getElementById('panel').inert);
      assert.equal(await p.getByRole('slider', { name: 'Temperature' }).count(), 1, 'the temperature slider is named');
      for (const colorScheme of ['light', 'dark']) {
        await p.emulateMedia({ colorScheme });
        const fills = await p.evaluate(() => ['#send', '#stop', '.msg.user .text', '.msg .avatar', '.btn.primary'].map((sel) => {
          const cs = getComputedStyle(/** @type {Element} */ (document.querySelector(sel)));
          const rgb = (s) => [...s.matchAll(/rgba?\(([^)]+)\)/g)].map((m) => m[1].split(',').slice(0, 3).map(Number));
          return { sel, text: rgb(cs.color)[0], stops: [...rgb(cs.backgroundImage), ...(cs.backgroundImage === 'none' ? rgb(cs.backgroundColor) : [])] };
        }));
        for (const f of fills) {
          assert.ok(f.stops.length > 0, `${f.sel} has a fill`);
          for (const stop of f.stops) {
            const ratio = contrast(f.text, stop);
            assert.ok(ratio >= 4.5, `${colorScheme}: ${f.sel} text rgb(${f.text}) on rgb(${stop}) is ${ratio.toFixed(2)}:1`);
          }
        }
      }
    } finally {
      await p.close();
    }
  });

  test('context shifts: one divider per reply, above it; a text longer than the context says it is cut', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      await greedy(p, { maxTokens: 1700 });
      await p.locator('input[name="mode"][value="complete"]').check({ force: true });
      const long = await ask(p, LOOPING);
      assert.equal(long.state, 'done');
      assert.equal(await p.locator('.divider').count(), 1, 'one divider for the reply');
      const shifts = await p.locator('.reply').first().getAttribute('data-shifts');
      assert.ok(Number(shifts) >= 2, `the window slid ${shifts} times`);
      assert.match(await p.locator('.divider').innerText(), new RegExp(`\\(${shifts} times\\)`));
      assert.equal(await p.locator('.reply').first().evaluate((el) => el.previousElementSibling?.classList.contains('divider')), true, 'above the reply');
      // a 20,000-character text: more tokens than the context holds
      await set(p, 'maxTokens', 3);
      const text = Array.from({ length: 2000 }, (_, i) => `line ${i}.`).join(' ').slice(0, 20_000);
      await ask(p, text);
      const reply = p.locator('.reply').nth(1);
      const above = await reply.evaluate((el) => {
        const out = [];
        for (let e = el.previousElementSibling; e?.classList.contains('divider'); e = e.previousElementSibling) out.push(e.textContent);
        return out;
      });
      assert.ok(above.some((t) => /This text is \d+ tokens, longer than the model's context of 1024: the model reads only its last part/.test(t)), above.join(' | '));
      assert.equal(await reply.evaluate((el) => el.nextElementSibling), null, 'nothing below the reply');
      await screenshot(p, 'page-context-cut');
    } finally {
      await p.close();
    }
  });

  test('out-of-range settings are corrected at the field, with a note saying so', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      const cases = [['maxTokens', '-5', '1', /at least 1: 1 is used instead of -5/], ['maxTokens', '1000000', '4096', /at most 4096/],
        ['topP', '7', '1', /Top-p is at most 1/], ['topK', '2.5', '3', /whole number/], ['minP', '-1', '0', /Min-p is at least 0/]];
      for (const [id, typed, used, note] of cases) {
        await p.locator(`#${id}`).fill(typed);
        await p.locator(`#${id}`).press('Tab');
        assert.equal(await p.locator(`#${id}`).inputValue(), used, `${id} ${typed}`);
        assert.match(await p.locator(`#${id}-note`).innerText(), note);
        assert.equal(await p.locator(`#${id}`).getAttribute('aria-invalid'), 'true');
        assert.equal(await p.locator(`#${id}`).getAttribute('aria-describedby'), `${id}-note`);
      }
      await screenshot(p, 'page-field-notes');
      await p.locator('#maxTokens').fill('12');
      await p.locator('#maxTokens').press('Tab');
      assert.equal(await p.locator('#maxTokens-note').count(), 0, 'a good value clears the note');
      await p.locator('#defaults').click();
      assert.equal(await p.locator('.field .note').count(), 0);
    } finally {
      await p.evaluate(() => localStorage.clear());
      await p.close();
    }
  });

  test('the model field takes a folder path relative to the page and a pasted file URL', async () => {
    const copy = tinyCopy('tiny-copy');
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      await p.locator('#model-choice').selectOption('custom');
      const mark = server.requests.length;
      await p.locator('#model-url').fill(copy);
      await p.locator('#load').click();
      await waitReady(p, watch);
      assert.ok(server.requests.slice(mark).some((r) => r.path === '/tests/artifacts/models/tiny-copy/config.json'), 'the relative path was loaded');
      assert.match(await p.locator('#model-pill').innerText(), /tiny-copy/);
      const mark2 = server.requests.length;
      await p.locator('#model-url').fill(url('models/pldr-tiny/config.json'));
      await p.locator('#load').click();
      await waitReady(p, watch);
      assert.match(await p.locator('#model-pill').innerText(), /pldr-tiny/);
      assert.ok(server.requests.slice(mark2).every((r) => !r.path.includes('config.json/')), 'the file URL means its folder');
    } finally {
      await p.evaluate(() => localStorage.clear());
      await p.close();
    }
  });

  test('a custom model survives a reload and ?model= is its shareable address', async () => {
    const copy = tinyCopy('tiny-copy');
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      await p.locator('#model-choice').selectOption('custom');
      await p.locator('#model-url').fill(copy);
      await p.locator('#load').click();
      await waitReady(p, watch);
      assert.equal(new URL(p.url()).searchParams.get('model'), copy, 'the address bar holds ?model=');
      await p.goto(url('web/'));   // no parameter: the model picked last time
      await waitReady(p, watch);
      assert.match(await p.locator('#model-pill').innerText(), /tiny-copy/);
      assert.equal(await p.locator('#model-url').inputValue(), copy);
    } finally {
      await p.evaluate(() => localStorage.clear());
      await p.close();
    }
  });

  test('replies are text, never markup: HTML from a model stays characters; code blocks and inline code render', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      const evil = 'Here: <img src=x onerror="window.__xss=1"><script>window.__xss=2</script> and `<i>inline</i>` code.\n' +
        '```html\n<b onclick="window.__xss=3">bold</b>\n```\nafter <a href="javascript:window.__xss=4">link</a>';
      await p.evaluate(async (content) => {
        const { ConversationStore } = await import('../js/browser/conversation-store.js');
        const store = await ConversationStore.open();
        await store.put({ id: 'evil', title: 'evil', created: 1, updated: Date.now(), model: null, system: '',
          items: [{ role: 'user', content: '<em>hi</em>' }, { role: 'assistant', content }, { role: 'completion', prompt: '<u>p</u>', content: '<s>c</s>' }] });
        store.close();
      }, evil);
      await p.reload();
      await waitReady(p, watch);
      await p.locator('#history-list li[data-id="evil"] .open').click();
      await p.locator('.msg.assistant').first().waitFor();
      const dom = await p.evaluate(() => {
        const log = /** @type {HTMLElement} */ (document.getElementById('log'));
        const shown = [...log.querySelectorAll('.msg, .doc')];
        return { tags: shown.flatMap((el) => [...el.querySelectorAll('img, script, b, i, a, em, u, s')]).map((e) => e.tagName),
          xss: /** @type {any} */ (window).__xss, reply: log.querySelector('.msg.assistant .text')?.textContent,
          code: log.querySelector('.code pre')?.textContent, lang: log.querySelector('.code-head span')?.textContent,
          inline: [...log.querySelectorAll('.msg.assistant .text code')].filter((c) => !c.closest('pre')).map((c) => c.textContent),
          user: log.querySelector('.msg.user .text')?.textContent, doc: log.querySelector('.doc .text')?.textContent };
      });
      assert.deepEqual(dom.tags, [], 'no element made from model text');
      assert.equal(dom.xss, undefined);
      assert.match(dom.reply, /<img src=x onerror="window.__xss=1"><script>window.__xss=2<\/script>/);
      assert.equal(dom.code, '<b onclick="window.__xss=3">bold</b>');
      assert.equal(dom.lang, 'html');
      assert.deepEqual(dom.inline, ['<i>inline</i>']);
      assert.equal(dom.user, '<em>hi</em>');
      assert.equal(dom.doc, '<u>p</u><s>c</s>');
      await screenshot(p, 'page-code-reply');
      // as it streams: an open fence is a code block already
      const streamed = await p.evaluate(async () => {
        const { renderText } = await import('../js/ui/render-text.js');
        const div = document.createElement('div');
        renderText(div, 'Look:\n```js\nconst a = "<script>";');
        return { code: div.querySelector('pre code')?.textContent, scripts: div.querySelectorAll('script').length };
      });
      assert.deepEqual(streamed, { code: 'const a = "<script>";', scripts: 0 });
      await p.evaluate(() => new Promise((resolve) => { const r = indexedDB.deleteDatabase('pldr-chat'); r.onsuccess = r.onerror = r.onblocked = resolve; }));
    } finally {
      await p.close();
    }
  });

  test('system prompt, Copy, Regenerate, Edit and min-p give what the engine gives', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      await greedy(p);
      const system = 'You are a friendly assistant who answers briefly.';
      await set(p, 'system', system, 'input');
      const hello = 'Hello! What is your name?';
      const first = await ask(p, hello);
      assert.equal(first.text, await nodeReply([{ role: 'system', content: system }, { role: 'user', content: hello }]));
      await p.locator('.reply .copy-reply').first().click();
      assert.equal(await p.evaluate(() => navigator.clipboard.readText()), first.text);
      // Regenerate (greedy): the same reply, in place of the old one
      await p.locator('.act.regenerate').click();
      const again = await lastReply(p, 0);
      assert.equal(again.text, first.text);
      assert.equal(await p.locator('.msg').count(), 2, 'one message and its reply');
      // Edit the last message: the reply to the edited one
      await p.locator('.act.edit').click();
      await p.locator('.edit-box textarea').fill('Tell me about the sea.');
      await p.locator('.edit-box textarea').press('Enter');
      const edited = await lastReply(p, 0);
      assert.equal(edited.text, await nodeReply([{ role: 'system', content: system }, { role: 'user', content: 'Tell me about the sea.' }]));
      assert.deepEqual(await p.locator('.msg.user .text').allTextContents(), ['Tell me about the sea.']);
      // min-p with a seeded sampler
      await set(p, 'system', '', 'input');
      await p.locator('#new-chat').click();
      const sampled = { temperature: 0.9, topK: 0, topP: 1, minP: 0.2, maxTokens: 20, repetitionPenalty: 1, seed: 7 };
      await greedy(p, sampled);
      const drawn = await ask(p, hello);
      assert.equal(drawn.text, await nodeReply([{ role: 'user', content: hello }], sampled));
      const other = await nodeReply([{ role: 'user', content: hello }], { ...sampled, minP: 0 });
      assert.notEqual(drawn.text, other, 'min-p changed the draw (else this test shows nothing)');
      assert.deepEqual(watch.errors, []);
    } finally {
      await p.evaluate(() => localStorage.clear());
      await p.close();
    }
  });

  test('conversations are kept across reloads, listed, opened, continued, deleted and exported', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      await p.evaluate(() => new Promise((resolve) => { const r = indexedDB.deleteDatabase('pldr-chat'); r.onsuccess = r.onerror = r.onblocked = resolve; }));
      await p.reload();
      await waitReady(p, watch);
      await greedy(p);
      const a = await ask(p, 'Hello! What is your name?');
      await p.locator('#new-chat').click();
      await p.locator('input[name="mode"][value="complete"]').check({ force: true });
      await ask(p, 'The Python language is');
      await p.waitForFunction(() => document.querySelectorAll('#history-list li').length === 2);
      await p.reload();
      await waitReady(p, watch);
      assert.deepEqual(await p.locator('#history-list li .open span').allTextContents(), ['The Python language is', 'Hello! What is your name?']);
      await p.locator('#history-list li').nth(1).locator('.open').click();
      await p.waitForFunction(() => document.querySelectorAll('#history-list li')[1]?.getAttribute('aria-current') === 'true');
      assert.equal(await p.locator('.msg.assistant .text').first().textContent(), a.text);
      await greedy(p);
      const next = await ask(p, 'Tell me about the sea.');
      assert.equal(next.text, await nodeReply([{ role: 'user', content: 'Hello! What is your name?' }, { role: 'assistant', content: a.text },
        { role: 'user', content: 'Tell me about the sea.' }]), 'the reloaded conversation goes on as an uninterrupted one');
      await screenshot(p, 'page-conversations');
      // export
      const [json] = await Promise.all([p.waitForEvent('download'), p.locator('#export-json').click()]);
      const exported = JSON.parse(readFileSync(await json.path(), 'utf8'));
      assert.equal(exported.format, 'pldr-conversation-1');
      assert.deepEqual(exported.items.map((i) => i.role), ['user', 'assistant', 'user', 'assistant']);
      assert.equal(json.suggestedFilename(), 'hello-what-is-your-name.json');
      const [md] = await Promise.all([p.waitForEvent('download'), p.locator('#export-md').click()]);
      const markdown = readFileSync(await md.path(), 'utf8');
      assert.match(markdown, /^# Hello! What is your name\?\n/);
      assert.match(markdown, /\*\*User\*\*\n\nTell me about the sea\.\n\n\*\*Assistant\*\*\n\n/);
      // delete (a second click confirms): the open conversation goes, the page starts a new one
      const del = p.locator('#history-list li').first().locator('.delete');
      await del.click();
      assert.equal(await del.innerText(), 'Delete?');
      await del.click();
      await p.waitForFunction(() => document.querySelectorAll('#history-list li').length === 1);
      assert.equal(await p.locator('.msg').count(), 0, 'the deleted conversation left the log');
      await p.reload();
      await waitReady(p, watch);
      assert.deepEqual(await p.locator('#history-list li .open span').allTextContents(), ['The Python language is']);
      assert.deepEqual(watch.errors, []);
    } finally {
      await p.close();
    }
  });

  test('a reloaded 900-token conversation goes on from its saved caches: the same reply, without running it again', async (t) => {
    const sentence = 'The harbour was quiet in the early morning, and the fishing boats rocked gently on the grey water while the gulls called overhead. ';
    let long = '';
    while (node.encode(`User: ${long}${sentence}`).length < 880) long += sentence;
    const first = [{ role: 'user', content: long }];
    const reference = await PLDR.load(MODEL_DIR);
    const r1 = await reference.respond(first, GREEDY).result;
    const conversation = [...first, { role: 'assistant', content: r1.text }, { role: 'user', content: 'Go on.' }];
    const expected = (await reference.respond(conversation, GREEDY).result).text.trimStart();
    const total = reference.stats().contextUsed;
    reference.free();
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      await p.evaluate(() => new Promise((resolve) => { const r = indexedDB.deleteDatabase('pldr-chat'); r.onsuccess = r.onerror = r.onblocked = resolve; }));
      await p.reload();
      await waitReady(p, watch);
      // two identical conversations of ~900 tokens: A keeps its caches, B's are deleted
      const ids = [];
      for (const name of ['A', 'B']) {
        await p.locator('#new-chat').click();
        await greedy(p);
        const reply = await ask(p, long);
        assert.equal(reply.text, r1.text.trimStart());
        await p.waitForFunction(() => document.body.dataset.cachesKept, null, { timeout: REPLY_TIMEOUT });
        ids.push(await p.evaluate(() => { const id = document.body.dataset.cachesKept; delete document.body.dataset.cachesKept; return id; }));
        t.diagnostic(`conversation ${name}: ${await p.evaluate(() => document.getElementById('status').textContent)}`);
      }
      await p.evaluate(async (id) => {
        const { ConversationStore } = await import('../js/browser/conversation-store.js');
        const store = await ConversationStore.open();
        await store.deleteState(id);
        store.close();
      }, ids[1]);
      const turn = node.encode('User: Go on.').length + node.encode('Assistant:').length;
      const measured = {};
      // (without first: the engine must not hold the identical other conversation already)
      for (const [name, id] of [['without', ids[1]], ['with', ids[0]]]) {
        // a fresh page whose model has run nothing yet (in mode first, the G of the first prompt it
        // runs is the model's: the state of a conversation made under another G is refused, rightly)
        await p.locator('#new-chat').click();
        await p.reload();
        await waitReady(p, watch);
        await p.locator(`#history-list li[data-id="${id}"] .open`).click();
        await p.waitForFunction((c) => document.querySelector(`#history-list li[data-id="${c}"]`)?.getAttribute('aria-current') === 'true', id);
        if (name === 'with') {
          await p.waitForFunction((c) => document.body.dataset.cachesRestored?.startsWith(`${c}:`), id, { timeout: 30_000 }).catch(async (err) => {
            assert.fail(`${err.message}: ${await p.locator('#status').innerText()} | ${(await p.locator('.divider').allTextContents()).join(' | ')}\n${watch.dump()}`);
          });
        }
        await greedy(p);
        const n = await p.locator('.reply').count();
        await p.locator('#input').fill('Go on.');
        await p.locator('#input').press('Enter');
        const reply = await lastReply(p, n);
        assert.equal(reply.text, expected, `${name} the saved caches: the reply an uninterrupted session gives`);
        const prefill = Number(/prefill (\d+) tok/.exec(await p.locator('#status').innerText())?.[1]);
        const ms = Number(await p.locator('.reply').nth(n).getAttribute('data-first-token-ms'));
        measured[name] = { prefill, ms };
      }
      t.diagnostic(`time to the first new token after a reload of a ${total}-token conversation (pldr-tiny, f32, headless Chromium): ` +
        `${measured.with.ms.toFixed(0)} ms with the saved caches (${measured.with.prefill} tokens prefilled), ` +
        `${measured.without.ms.toFixed(0)} ms without (${measured.without.prefill} tokens prefilled)`);
      assert.ok(measured.with.prefill <= turn + 1, `with the caches only the new turn ran (${measured.with.prefill} tokens; the turn has ${turn})`);
      assert.ok(measured.without.prefill >= total - turn - GREEDY.maxTokens, `without them the conversation ran again (${measured.without.prefill} tokens)`);
      assert.deepEqual(watch.errors, []);
    } finally {
      await p.evaluate(() => new Promise((resolve) => { const r = indexedDB.deleteDatabase('pldr-chat'); r.onsuccess = r.onerror = r.onblocked = resolve; }));
      await p.close();
    }
  });

  test('the models kept in the browser: listed with their size, deleted, and persistence asked for', async () => {
    const { p, watch } = await open();
    try {
      await waitReady(p, watch);
      const item = p.locator('#stored-list li[data-folder$="/models/pldr-tiny/"]');
      await item.waitFor();
      const bytes = readdirSync(MODEL_DIR).reduce((n, f) => n + readFileSync(join(MODEL_DIR, f)).length, 0);
      assert.match(await item.innerText(), new RegExp(`pldr-tiny\\s+${(bytes / 1e6).toFixed(1)} MB · \\d+ files · loaded`));
      assert.match(await p.locator('#stored-usage').innerText(), /This site uses [\d.]+ [kMG]B/);
      await p.locator('#stored').scrollIntoViewIfNeeded();
      await screenshot(p, 'page-stored-models');
      await item.locator('button').click();
      await item.waitFor({ state: 'detached' });
      const mark = server.requests.length;
      await p.reload();
      await waitReady(p, watch);
      assert.ok(server.requests.slice(mark).filter((r) => SHARD.test(r.path)).length >= 4, 'deleted: fetched again, not read from the Cache API');
      if (await p.locator('#persist').isVisible()) {
        await p.locator('#persist').click();
        await p.waitForFunction(() => /space runs low|did not grant/.test(document.getElementById('stored-usage').textContent));
      }
    } finally {
      await p.close();
    }
  });

  test('Content-Security-Policy: no eval, no inline script, nothing broken by it', async () => {
    const { p, watch } = await open();
    await p.addInitScript(() => {
      /** @type {any} */ (window).__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => /** @type {any} */ (window).__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    try {
      await p.reload();
      await waitReady(p, watch);
      await greedy(p, { maxTokens: 4 });
      await ask(p, 'Hi');
      const csp = await p.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
      assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
      assert.match(csp, /object-src 'none'/);
      assert.deepEqual(await p.evaluate(() => /** @type {any} */ (window).__violations), [], 'the page, the worker and the wasm run under it');
      // what it is for: script that is not a file of the site does not run
      const blocked = await p.evaluate(() => new Promise((resolve) => {
        const w = /** @type {any} */ (window);
        const s = document.createElement('script');
        s.textContent = 'window.__inline = 1';
        document.head.append(s);
        setTimeout('window.__string = 1', 0);   // eval of a string
        setTimeout(() => resolve({ inline: w.__inline, string: w.__string, violations: w.__violations }), 100);
      }));
      assert.equal(blocked.inline, undefined);
      assert.equal(blocked.string, undefined);
      assert.deepEqual(blocked.violations.map((v) => v.split(' ')[0]).sort(), ['script-src', 'script-src-elem']);
    } finally {
      await p.close();
    }
  });

  test('?model= on another site is shown and asked about before anything is downloaded', async () => {
    const foreign = new URL('models/pldr-tiny/', other.url).href;
    const mark = other.requests.length;
    const { p, watch } = await open(`web/?model=${encodeURIComponent(foreign)}`);
    try {
      await p.locator('#confirm').waitFor({ state: 'visible' });
      assert.equal(await p.locator('#confirm-url').innerText(), foreign);
      await p.waitForTimeout(500);
      assert.deepEqual(other.requests.slice(mark), [], 'nothing asked of the other site yet');
      assert.equal(await p.evaluate(() => document.body.dataset.state), 'confirm');
      await screenshot(p, 'page-confirm-model');
      await p.locator('#confirm-load').click();
      await waitReady(p, watch);
      assert.ok(other.requests.slice(mark).some((r) => r.path === '/models/pldr-tiny/config.json'));
      // declined: the default model instead, and ?model= goes
      const again = await open(`web/?model=${encodeURIComponent(new URL('models/other/', other.url).href)}`);
      try {
        await again.p.locator('#confirm-default').click();
        await waitReady(again.p, again.watch);
        assert.equal(new URL(again.p.url()).searchParams.get('model'), null);
        assert.equal(other.requests.filter((r) => r.path.startsWith('/models/other/')).length, 0);
      } finally {
        await again.p.close();
      }
    } finally {
      await p.evaluate(() => localStorage.clear());
      await p.close();
    }
  });

  test('screenshots of the new states, desktop and phone, light and dark', async () => {
    for (const [name, viewport] of [['desktop', { width: 1280, height: 860 }], ['phone', { width: 390, height: 844 }]]) {
      for (const colorScheme of ['light', 'dark']) {
        const { p, watch } = await open('web/', { ...viewport, colorScheme });
        try {
          await waitReady(p, watch);
          await greedy(p, { maxTokens: 12 });
          await p.evaluate(async () => {
            const { ConversationStore } = await import('../js/browser/conversation-store.js');
            const store = await ConversationStore.open();
            await store.put({ id: 'shot', title: 'Show me a loop in Python', created: 1, updated: Date.now(), model: null, system: '',
              items: [{ role: 'user', content: 'Show me a loop in Python' },
                { role: 'assistant', content: ' Here is one, using `range`:\n```python\nfor i in range(3):\n    print(i)\n```\nIt prints 0, 1 and 2.' }] });
            store.close();
          });
          await p.reload();
          await waitReady(p, watch);
          if (name === 'phone') await p.locator('#history-toggle').click();
          await p.locator('#history-list li[data-id="shot"] .open').click();
          await p.locator('.code pre').waitFor();
          await set(p, 'maxTokens', '99999');
          await set(p, 'quant', 'q4');
          await p.waitForTimeout(300);   // the drawer closed
          await screenshot(p, `page-${name}-${colorScheme}`);
          if (name === 'phone') {
            await p.locator('#history-toggle').click();
            await p.waitForTimeout(300);
            await screenshot(p, `page-${name}-${colorScheme}-conversations`);
            await p.keyboard.press('Escape');
            await p.locator('#panel-toggle').click();
            await p.waitForTimeout(300);
            await screenshot(p, `page-${name}-${colorScheme}-settings`);
          }
          assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scrolling');
        } finally {
          await p.evaluate(() => { localStorage.clear(); indexedDB.deleteDatabase('pldr-chat'); });
          await p.close();
        }
      }
    }
  });
});
