// Where the runtime's WebAssembly modules live: dist/ of the package, found relative to this file,
// so the default works wherever the js/ folder is (a checkout, node_modules/pldr-web/, an npm CDN
// URL such as https://cdn.jsdelivr.net/npm/pldr-web@VERSION/). Each URL is written as a literal
// `new URL('…', import.meta.url)`: the form bundlers (webpack 5, Vite, Parcel) recognise, so they
// copy the module with the bundle. PLDR.load's and createRuntime's `wasmUrl` override the choice,
// which js/runtime/features.js makes (chooseVariant).
//
// WASM_URLS is the one list of the modules there are: `npm pack` ships every dist/*.wasm and
// tests/package.test.mjs checks that each one listed here is in the tarball; `make dist` copies
// them beside the js/ folder (rewriting '../../dist/' to '../../' in this file).

/** Every WebAssembly module the runtime can choose from, by variant name (the same C API). */
export const WASM_URLS = Object.freeze({
  /** baseline WebAssembly SIMD128: runs everywhere WebAssembly SIMD does */
  simd128: new URL('../../dist/pldr.wasm', import.meta.url),
  /** relaxed SIMD on top (int8 dot products, fused multiply-add): Chromium 114+, Firefox, Node 22+ */
  relaxed: new URL('../../dist/pldr-relaxed.wasm', import.meta.url),
  /** the baseline kernels over a shared memory, for the thread pool (src/threads): Node, and pages
   * that are cross-origin isolated (SharedArrayBuffer) */
  threads: new URL('../../dist/pldr-threads.wasm', import.meta.url),
  /** the relaxed kernels over a shared memory: where both run */
  'threads-relaxed': new URL('../../dist/pldr-threads-relaxed.wasm', import.meta.url),
});

/** The module that runs everywhere: the fallback of every choice. */
export const DEFAULT_WASM_URL = WASM_URLS.simd128;
