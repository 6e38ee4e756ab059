// The two builds of the same C, behind one small interface so the golden tests run on both:
// the WebAssembly module in-process (js/runtime/model.js + js/loading/loader.js) and the native CLI.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../../js/runtime/wasm.js';
import { modelSink } from '../../js/runtime/model.js';
import { loadModel } from '../../js/loading/loader.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The native CLI the tests run: build/pldr-native, or its ASan + UBSan build when PLDR_NATIVE=asan (make test-asan). */
export const NATIVE = join(ROOT, process.env.PLDR_NATIVE === 'asan' ? 'build/pldr-native-asan' : 'build/pldr-native');

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

export const ENGINES = [wasmEngine, nativeEngine];
