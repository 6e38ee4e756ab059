// The builds of the same C, behind one small interface so the golden tests run on each: the
// WebAssembly module in-process (js/runtime/model.js + js/loading/loader.js), the native CLI, and
// the relaxed-SIMD module in headless Chromium (Node 20 cannot run it: tools/testkit/chromium.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../../js/runtime/wasm.js';
import { modelSink } from '../../js/runtime/model.js';
import { loadModel } from '../../js/loading/loader.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The native CLI the tests run: build/pldr-native; its ASan + UBSan build when PLDR_NATIVE=asan
 * (make test-asan); any other PLDR_NATIVE is a path (make tsan: the ThreadSanitizer build). */
export const NATIVE = process.env.PLDR_NATIVE === 'asan' ? join(ROOT, 'build/pldr-native-asan')
  : process.env.PLDR_NATIVE ? resolve(ROOT, process.env.PLDR_NATIVE) : join(ROOT, 'build/pldr-native');

/** Loads a model folder into a fresh WebAssembly instance. */
export async function loadWasmModel(dir, options = {}) {
  const rt = await createRuntime();
  const sink = modelSink(rt, options);
  await loadModel(dir, sink);
  return sink.model;
}

export function argmax(x) {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * @typedef {{logits: Float32Array, G: Float32Array, A: Float32Array}} EvalResult
 * @typedef {{name: string, skip: string|false,
 *   evaluate(dir: string, ids: number[], options?: {gcacheFile?: string}): Promise<EvalResult>,
 *   greedy(dir: string, ids: number[], n: number, mode: string): Promise<{ids: number[], steps: Float32Array[]}>}} Engine
 */

/** @type {Engine} */
export const wasmEngine = {
  name: 'wasm',
  skip: false,
  async evaluate(dir, ids, options = {}) {
    const model = await loadWasmModel(dir, { gcache: options.gcacheFile ? 'fixed' : 'prompt' });
    if (options.gcacheFile) model.setGcache(readF32(options.gcacheFile));
    const s = model.newSession({ contextLength: ids.length });
    const logits = s.prefill(ids, { allLogits: true });
    const result = { logits, G: s.gcache('G_LM'), A: s.gcache('A_LM') };
    model.free();
    return result;
  },
  async greedy(dir, ids, n, mode) {
    const model = await loadWasmModel(dir, { gcache: mode === 'empty' ? 'first' : mode });
    if (mode === 'empty') model.computeGcache([model.eosId]);
    const s = model.newSession();
    const out = [], steps = [];
    let logits = s.prefill(ids);
    while (out.length < n) {
      steps.push(logits);
      out.push(argmax(logits));
      if (out.at(-1) === model.eosId || out.length === n) break;
      logits = s.decode(out.at(-1));
    }
    model.free();
    return { ids: out, steps };
  },
};

function runNative(args) {
  const r = spawnSync(NATIVE, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`pldr-native ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

import { readF32 } from './files.mjs';
import { skipUnlessCI } from './skip.mjs';

/** @type {Engine} */
export const nativeEngine = {
  name: 'native',
  skip: skipUnlessCI(existsSync(NATIVE) ? false : 'build/pldr-native not built (make native)'),
  async evaluate(dir, ids, options = {}) {
    const tmp = mkdtempSync(join(tmpdir(), 'pldr-eval-'));
    try {
      const files = ['logits', 'g', 'a'].map((f) => join(tmp, `${f}.f32`));
      const extra = options.gcacheFile ? ['--gcache-file', options.gcacheFile] : ['--gcache', 'prompt'];
      runNative(['eval', '--model', dir, '--ids', ids.join(','), ...extra, '--logits', files[0], '--g', files[1], '--a', files[2]]);
      const [logits, G, A] = files.map(readF32);
      return { logits, G, A };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
  async greedy(dir, ids, n, mode) {
    const tmp = mkdtempSync(join(tmpdir(), 'pldr-gen-'));
    try {
      const file = join(tmp, 'steps.f32');
      const out = JSON.parse(runNative(['generate', '--model', dir, '--ids', ids.join(','), '--max-tokens', String(n),
        '--gcache', mode, '--greedy', '--json', '--dump-step-logits', file]));
      const all = readF32(file), V = all.length / out.ids.length;
      return { ids: out.ids, steps: out.ids.map((_, i) => all.subarray(i * V, (i + 1) * V)) };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};

const RELAXED_WASM = join(ROOT, 'dist/pldr-relaxed.wasm');
const relaxedSkip = process.env.PLDR_SKIP_BROWSER === '1' ? 'PLDR_SKIP_BROWSER=1'
  : skipUnlessCI(existsSync(RELAXED_WASM) ? false : 'dist/pldr-relaxed.wasm not built (make)');

/** One Chromium page for every call (opened at the first); model folders anywhere on disk are
 * served to it under /__files__/ by request interception. */
let chromiumPage = null;
function relaxedPage() {
  chromiumPage ??= (async () => {
    const { openRepoPage } = await import('../../tools/testkit/chromium.mjs');
    const p = await openRepoPage();
    await p.page.route('**/__files__/**', (route) => {
      const path = decodeURIComponent(new URL(route.request().url()).pathname.replace(/^\/__files__/, ''));
      return existsSync(path) ? route.fulfill({ path }) : route.fulfill({ status: 404 });
    });
    return p;
  })();
  return chromiumPage;
}
const filesUrl = (path) => `/__files__${path.split('/').map(encodeURIComponent).join('/')}`;

/**
 * Runs `mode` ('evaluate' or 'greedy') in the page with the relaxed module, as wasmEngine does.
 * @param {Record<string, any>} args
 */
async function inRelaxedPage(args) {
  const { page, log } = await relaxedPage();
  try {
    return await page.evaluate(async (a) => {
      const { createRuntime } = await import('/js/runtime/wasm.js');
      const { modelSink } = await import('/js/runtime/model.js');
      const { loadModel } = await import('/js/loading/loader.js');
      const rt = await createRuntime({ variant: 'relaxed' });
      if (rt.variant !== 'relaxed') throw new Error(`the page runs ${rt.variant}, not the relaxed module`);
      const sink = modelSink(rt, { gcache: a.gcache });
      await loadModel(new URL(`${a.dir}/`, location.href).href, sink, { cache: false });
      const model = sink.model;
      try {
        if (a.gcacheUrl) model.setGcache(new Float32Array(await (await fetch(a.gcacheUrl)).arrayBuffer()));
        if (a.mode === 'evaluate') {
          const s = model.newSession({ contextLength: a.ids.length });
          const logits = s.prefill(a.ids, { allLogits: true });
          return { logits, G: s.gcache('G_LM'), A: s.gcache('A_LM') };
        }
        if (a.empty) model.computeGcache([model.eosId]);
        const s = model.newSession();
        const out = [], steps = [];
        let logits = s.prefill(a.ids);
        const argmax = (x) => x.reduce((b, v, i) => (v > x[b] ? i : b), 0);
        while (out.length < a.n) {
          steps.push(logits);
          out.push(argmax(logits));
          if (out.at(-1) === model.eosId || out.length === a.n) break;
          logits = s.decode(out.at(-1));
        }
        return { ids: out, steps };
      } finally {
        model.free();
      }
    }, args);
  } catch (err) {
    throw new Error(`${err.message}\n${log.join('\n')}`);
  }
}

/** @type {Engine & {close(): Promise<void>}} */
export const relaxedEngine = {
  name: 'wasm relaxed-SIMD, Chromium',
  skip: relaxedSkip,
  evaluate: (dir, ids, options = {}) => inRelaxedPage({
    mode: 'evaluate', dir: filesUrl(dir), ids, gcache: options.gcacheFile ? 'fixed' : 'prompt',
    gcacheUrl: options.gcacheFile ? filesUrl(options.gcacheFile) : null,
  }),
  greedy: (dir, ids, n, mode) => inRelaxedPage({
    mode: 'greedy', dir: filesUrl(dir), ids, n, gcache: mode === 'empty' ? 'first' : mode, empty: mode === 'empty',
  }),
  async close() {
    const p = await chromiumPage;
    chromiumPage = null;
    await p?.close();
  },
};

export const ENGINES = [wasmEngine, nativeEngine, relaxedEngine];
