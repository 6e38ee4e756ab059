// Which WebAssembly module runs (js/runtime/features.js, wasm-location.js): the relaxed-SIMD build
// where relaxed SIMD works (headless Chromium), the baseline where it does not validate (Node 20
// without flags), where it validates but computes the dot product wrong (Node 20 with
// --experimental-wasm-relaxed-simd returns twice the result), and where the relaxed file is
// missing; an unknown variant is E_OPTION, a module the engine cannot compile E_WASM.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/engines.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';
import { RELAXED_PROBE_MODULE, chooseVariant, relaxedSimdWorks } from '../js/runtime/features.js';
import { WASM_URLS } from '../js/runtime/wasm-location.js';
import { ABI_VERSION, createRuntime } from '../js/runtime/wasm.js';

const relaxedBuilt = existsSync(join(ROOT, 'dist/pldr-relaxed.wasm'));
const browserSkip = process.env.PLDR_SKIP_BROWSER === '1' ? 'PLDR_SKIP_BROWSER=1'
  : skipUnlessCI(relaxedBuilt ? false : 'dist/pldr-relaxed.wasm not built (make)');

test('every listed module is built by make, under dist/', () => {
  assert.deepEqual(Object.keys(WASM_URLS), ['simd128', 'relaxed', 'threads', 'threads-relaxed']);
  for (const [variant, url] of Object.entries(WASM_URLS)) {
    assert.match(url.href, /\/dist\/pldr(-[a-z-]+)?\.wasm$/, variant);
    if (!variant.endsWith('relaxed') || relaxedBuilt) assert.ok(existsSync(url), `${url.pathname} (make builds it)`);
  }
});

test('Node without relaxed SIMD: the probe does not validate, the baseline module runs', async () => {
  if (WebAssembly.validate(RELAXED_PROBE_MODULE.bytes)) return; // a Node that ships relaxed SIMD: see the next test
  assert.equal(relaxedSimdWorks(), false);
  assert.equal(chooseVariant(), 'simd128');
  const rt = await createRuntime();
  assert.equal(rt.variant, 'simd128');
  assert.equal(rt.int8Dot, null); // one form of the q4_0 products: nothing to choose
  assert.equal(rt.x.pldr_int8_dot_probe(0, 1), 1); // PLDR_IGNORED: the probe runs nothing
  assert.equal(rt.x.pldr_int8_dot_probe(0, 0), -1); // an invalid count is still an error
  await assert.rejects(createRuntime({ variant: 'relaxed' }), (err) => {
    assert.equal(err.code, 'E_WASM');
    assert.match(err.message, /pldr-relaxed\.wasm cannot be compiled or started here \(the relaxed-SIMD module needs an engine with relaxed SIMD/);
    return true;
  });
});

test('an engine whose relaxed dot product validates but computes wrong gets the baseline (Node 20 with the flag)', () => {
  const script = `import('./js/runtime/features.js').then((f) => {
    const { bytes, expected } = f.RELAXED_PROBE_MODULE;
    const got = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.p();
    console.log(JSON.stringify({ valid: WebAssembly.validate(bytes), got, expected, chosen: f.chooseVariant() }));
  })`;
  const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.valid, true);
  assert.equal(o.chosen, o.got === o.expected ? 'relaxed' : 'simd128');
  if (process.versions.node.startsWith('20.')) { // V8 11.3: the regression this probe exists for
    assert.notEqual(o.got, o.expected); // its i32x4 dot product comes out doubled
    assert.equal(o.chosen, 'simd128');
  }
});

test('createRuntime: an unknown variant is E_OPTION', async () => {
  await assert.rejects(createRuntime({ variant: 'fast' }), { code: 'E_OPTION', message: /unknown WebAssembly variant "fast": expected simd128 or relaxed/ });
  await assert.rejects(createRuntime({ variant: 'toString' }), { code: 'E_OPTION' });
});

/** @type {Promise<any>|null} */
let chromium = null;
after(async () => (await chromium)?.close());
async function page() {
  const { openRepoPage } = await import('../tools/testkit/chromium.mjs');
  chromium ??= openRepoPage();
  return (await chromium).page;
}

test('Chromium: relaxed SIMD works, the relaxed module is chosen and loads; without its file, the baseline', { skip: browserSkip }, async () => {
  const p = await page();
  const inPage = () => p.evaluate(async () => {
    const f = await import('/js/runtime/features.js');
    const { createRuntime } = await import('/js/runtime/wasm.js');
    const rt = await createRuntime();
    return { works: f.relaxedSimdWorks(), chosen: f.chooseVariant(), runtime: rt.variant, abi: rt.x.pldr_abi_version(),
      int8Dot: rt.int8Dot, set: rt.int8Dot && rt.x.pldr_int8_dot_current() };
  });
  const first = await inPage();
  // the q4_0 form timed at load (tuning.js): either, as long as the module runs the one it reports
  assert.ok(['i32', 'pairs16'].includes(first.int8Dot), JSON.stringify(first));
  assert.equal(first.set, first.int8Dot === 'pairs16' ? 1 : 0);
  assert.deepEqual({ ...first, int8Dot: undefined, set: undefined }, { works: true, chosen: 'relaxed', runtime: 'relaxed', abi: ABI_VERSION, int8Dot: undefined, set: undefined });
  const calls = await p.evaluate(async () => {
    const { createRuntime } = await import('/js/runtime/wasm.js');
    const x = (await createRuntime({ variant: 'relaxed' })).x;
    return { badForm: x.pldr_set_int8_dot(2), badProbe: x.pldr_int8_dot_probe(0, 0), tooMany: x.pldr_int8_dot_probe(1, 1001),
      probe: x.pldr_int8_dot_probe(1, 1), after: x.pldr_int8_dot_current(), set: [x.pldr_set_int8_dot(1), x.pldr_int8_dot_current(), x.pldr_set_int8_dot(0), x.pldr_int8_dot_current()] };
  });
  const invalid = -1; // PLDR_ERR_INVALID_ARGUMENT
  assert.deepEqual({ ...calls, after: undefined }, { badForm: invalid, badProbe: invalid, tooMany: invalid, probe: 0, after: undefined, set: [0, 1, 0, 0] });
  assert.equal(calls.after, first.set); // the probe leaves the setting as it was
  await p.route('**/dist/pldr-relaxed.wasm', (route) => route.fulfill({ status: 404, body: 'not here' }));
  try {
    await p.reload(); // a fresh module cache
    assert.deepEqual(await inPage(), { works: true, chosen: 'relaxed', runtime: 'simd128', abi: ABI_VERSION, int8Dot: null, set: null });
    const forced = await p.evaluate(async () => {
      const { createRuntime } = await import('/js/runtime/wasm.js');
      return createRuntime({ variant: 'relaxed' }).then(() => 'loaded', (err) => `${err.code}: ${err.message}`);
    });
    assert.match(forced, /^E_WASM: cannot load .*pldr-relaxed\.wasm: HTTP 404/);
  } finally {
    await p.unroute('**/dist/pldr-relaxed.wasm');
  }
});

// Firefox ESR ships relaxed SIMD, WebKitGTK does not: each gets the module it runs, and a model
// loads and answers in both (the relaxed module's dot product is checked by the probe first).
for (const [engine, expected] of [['firefox', 'relaxed'], ['webkit', 'simd128']]) {
  const { engineMissing, launch } = await import('./helpers/browser.mjs');
  const missing = engineMissing(engine);
  test(`${engine}: the ${expected} module is chosen, and runs pldr-tiny`, { skip: missing ? skipUnlessCI(missing) : browserSkip }, async () => {
    const { startServer } = await import('../tools/serve.mjs');
    const server = await startServer({ root: ROOT });
    const b = await launch(engine);
    try {
      await b.goto(`${server.url}tools/testkit/blank.html`);
      const r = await b.evaluate(async () => {
        const { chooseVariant } = await import('/js/runtime/features.js');
        const { PLDR } = await import('/js/pldr.js');
        const engine = await PLDR.load('/models/pldr-tiny/', { cache: false, threads: 1 }); // the single-thread choice
        const ids = (await engine.generate('The Python language is', { maxTokens: 8, temperature: 0 }).result).ids;
        return { chosen: chooseVariant(), runtime: engine.stats().wasmVariant, ids };
      });
      assert.equal(r.chosen, expected);
      assert.equal(r.runtime, expected);
      const { PLDR } = await import('../js/pldr.js');
      const node = await PLDR.load(join(ROOT, 'models/pldr-tiny'));
      const want = (await node.generate('The Python language is', { maxTokens: 8, temperature: 0 }).result).ids;
      node.free();
      assert.deepEqual(r.ids, want, 'the same greedy ids as Node (the baseline module)');
    } finally {
      await b.close();
      await server.close();
    }
  });
}
