// The chat page's "Deductive outputs" view (web/deductive.js) in headless Chromium: the released
// PLDR-LLM-v51-110M-1's G at its own shape (5 layers × 14 heads of 64×64) with the figures the
// engine's worker computes, the invariance figures of a conversation equal to the Node engine's,
// the A-net time against a decode step, a G-only model's saving, and a page that stays responsive
// while the worker computes. Screenshots go to tests/artifacts/ (deductive-*.png).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { headFigures, gOnlySaving } from '../js/generation/deductive.js';
import { startServer } from '../tools/serve.mjs';
import { ARTIFACTS, ROOT, browserSkipReason, launchBrowser, screenshot, watchPage } from './helpers/browser.mjs';
import { readF32 } from './helpers/files.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const skip = skipUnlessCI(browserSkipReason());
const python = spawnSync('python3', ['--version']).status === 0;
const G_FILE = join(ROOT, 'tests/fixtures/gcache/pldrv51-110m-1.G_LM.f32');
const SHAPE = { layers: 5, heads: 14, dk: 64 };
const MESSAGE = 'Tell me about the sea.';
const GREEDY = { temperature: 0, topK: 40, topP: 0.95, maxTokens: 16, repetitionPenalty: 1 };

test('the page\'s example G is the released model\'s G (the same bytes as the test fixture)', () => {
  assert.deepEqual(readFileSync(join(ROOT, 'web/pldrv51-110m-1.G_LM.f32')), readFileSync(G_FILE));
});

describe('the "Deductive outputs" view', { skip }, () => {
  let server, browser, page, watch;

  before(async () => {
    server = await startServer({ root: ROOT });
    browser = await launchBrowser({ viewport: { width: 1280, height: 1000 } });
    page = browser.context.pages()[0] ?? await browser.context.newPage();
    watch = watchPage(page);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function waitReady() {
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 90_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', watch.dump());
  }

  /** Opens the view (the topbar hook) and waits for it to finish drawing. */
  async function openView(source) {
    if (!(await page.locator('#deductive').isVisible().catch(() => false))) await page.locator('#deductive-open').click();
    await page.locator('#deductive').waitFor();
    if (source) await page.locator(`#deductive input[name="dd-source"][value="${source}"]`).check({ force: true });
    await page.waitForFunction((s) => {
      const d = document.getElementById('deductive');
      return d && d.dataset.state !== 'loading' && (!s || d.dataset.source === s);
    }, source, { timeout: 90_000 });
    const state = await page.evaluate(() => document.getElementById('deductive').dataset.state);
    assert.equal(state, 'ready', `${await page.locator('#deductive .dd-status').innerText()}\n${watch.dump()}`);
  }

  const energies = () => page.$$eval('#deductive canvas[data-layer]', (cs) => cs.map((c) => ({ l: Number(c.dataset.layer), h: Number(c.dataset.head), e: Number(c.dataset.energy) })));

  test('without a conversation it shows the released 110M model\'s G: 5 × 14 heat maps, the worker\'s figures, rank-1 heads outlined; the page stays responsive', async (t) => {
    await page.goto(new URL('web/', server.url).href);
    await waitReady();
    await page.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.__gaps = { last: performance.now(), max: 0 };
      w.__gapTimer = setInterval(() => {
        const now = performance.now();
        w.__gaps.max = Math.max(w.__gaps.max, now - w.__gaps.last);
        w.__gaps.last = now;
      }, 10);
    });
    await openView();
    const gap = await page.evaluate(() => { clearInterval(/** @type {any} */ (window).__gapTimer); return /** @type {any} */ (window).__gaps.max; });
    t.diagnostic(`longest main-thread gap while the view fetched, measured and drew the 110M G: ${gap.toFixed(0)} ms`);
    assert.ok(gap < 250, `the main thread was never blocked for long (longest gap ${gap.toFixed(0)} ms)`);
    assert.equal(await page.evaluate(() => document.getElementById('deductive').dataset.source), 'example', 'no conversation yet: the example');
    assert.match(await page.locator('#deductive .dd-status').innerText(), /Nothing in this conversation yet/);
    const shown = await energies();
    assert.equal(shown.length, 70, '5 layers × 14 heads');
    const expected = headFigures(readF32(G_FILE), SHAPE);
    for (const { l, h, e } of shown) assert.ok(Math.abs(e - expected[l].heads[h].energy_share) < 1e-12, `layer ${l} head ${h}: ${e}`);
    // the early layers' rank-1 heads, outlined, and counted in the summary
    const rank1 = expected.map((layer) => layer.heads.filter((x) => x.energy_share >= 0.99).length);
    assert.ok(rank1[0] >= 10 && rank1[1] >= 10, `rank-1 heads in layers 0 and 1: ${rank1}`);
    assert.equal(await page.locator('#deductive .dd-row:nth-child(2) .dd-cell.rank1').count(), rank1[0]);
    assert.match(await page.locator('#deductive .dd-summary').innerText(), new RegExp(`layer 0: ${rank1[0]} of 14 · layer 1: ${rank1[1]} of 14`));
    // a rank-1 head looks like one: its pixels are an outer product's (every row a multiple of one row)
    const pixels = await page.$eval('#deductive canvas[data-layer="0"][data-head="0"]', (c) => Array.from(c.getContext('2d').getImageData(0, 0, 64, 64).data));
    assert.equal(pixels.length, 64 * 64 * 4);
    assert.ok(new Set(pixels.filter((_, i) => i % 4 === 0)).size > 20, 'a heat map, not a flat colour');
    const shot = await screenshot(page.locator('#deductive'), 'deductive-example-110m');
    assert.ok(readFileSync(shot).length > 30_000);
    assert.deepEqual(watch.errors, []);
  });

  test('for a conversation: its G and the invariance figures equal the Node engine\'s, with the A-net time against a decode step', async () => {
    await page.locator('#deductive .dd-close').click();
    for (const [id, value] of Object.entries(GREEDY)) {
      await page.evaluate(([k, v]) => { const el = /** @type {HTMLInputElement} */ (document.getElementById(k)); el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }, [id, value]);
    }
    await page.locator('input[name="mode"][value="chat"]').check({ force: true });
    await page.locator('#input').fill(MESSAGE);
    await page.locator('#input').press('Enter');
    await page.waitForFunction(() => document.querySelector('.reply')?.getAttribute('data-state') === 'done', null, { timeout: 60_000 });
    const replyText = await page.locator('.reply .text').textContent();
    await openView('conversation');
    const rows = await page.$$eval('#deductive .dd-invariance tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent)));
    const node = await PLDR.load(join(ROOT, 'models/pldr-tiny'));
    const reply = await node.respond([{ role: 'user', content: MESSAGE }], GREEDY).result;
    assert.equal(reply.text, replyText.trimStart(), 'the same conversation');
    const d = node.deductive();
    assert.equal(rows.length, 5);
    rows.forEach(([layer, rmse, rel], l) => {
      assert.equal(Number(layer), l);
      assert.equal(rmse, d.layers[l].rmse.toExponential(3));
      assert.equal(rel, `${(100 * d.layers[l].rel_rmse).toFixed(2)}%`);
    });
    const shown = await energies();
    assert.equal(shown.length, 20, 'pldr-tiny: 5 layers × 4 heads');
    // the page runs the relaxed-SIMD module where the browser has it (fused multiply-add, js/runtime/
    // features.js): its G is Node's (the baseline module's) to float32 rounding, not bit for bit
    for (const { l, h, e } of shown) {
      const want = d.layers[l].heads[h].energy_share;
      assert.ok(Math.abs(e - want) <= 1e-5 * Math.abs(want), `layer ${l} head ${h}: ${e} vs ${want}`);
    }
    const cost = await page.locator('#deductive .dd-cost').innerText();
    assert.match(cost, /The A-net took [\d.]+ ms to compute this G — once\. A decode step takes [\d.]+ ms: the A-net costs as much as [\d.]+ steps/);
    node.free();
    await screenshot(page.locator('#deductive'), 'deductive-conversation');
    assert.deepEqual(watch.errors, []);
  });

  test('a G-only model (A-net removed by the converter): its fixed G and the download it saved', { skip: skipUnlessCI(python ? false : 'python3 not installed') }, async () => {
    const dir = join(ARTIFACTS, 'models', 'tiny-g-only');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(ARTIFACTS, 'models'), { recursive: true });
    const golden = join(ROOT, 'tests/fixtures/golden/pldr-tiny/G_eos.f32');
    const r = spawnSync('python3', [join(ROOT, 'tools/convert'), join(ROOT, 'models/pldr-tiny'), dir, '--quiet', '--gcache', golden], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    await page.goto(new URL('web/?model=../tests/artifacts/models/tiny-g-only/', server.url).href);
    await waitReady();
    await page.locator('#input').fill('Hello');
    await page.locator('#input').press('Enter');
    await page.waitForFunction(() => document.querySelector('.reply')?.getAttribute('data-state') === 'done', null, { timeout: 60_000 });
    await openView('conversation');
    assert.match(await page.locator('#deductive .dd-status').innerText(), /G-only: its G is fixed/);
    assert.equal(await page.locator('#deductive .dd-invariance').isVisible(), false);
    const s = gOnlySaving(JSON.parse(readFileSync(join(ROOT, 'models/pldr-tiny/config.json'), 'utf8')));
    const text = await page.locator('#deductive .dd-saving').innerText();
    assert.ok(text.includes(`${s.anetParameters.toLocaleString('en')} parameters`), text);
    assert.ok(text.includes(`${(s.savedBytes / 1e6).toFixed(2)} MB less to download`), text);
    await screenshot(page.locator('#deductive'), 'deductive-g-only');
    assert.deepEqual(watch.errors, []);
  });
});
