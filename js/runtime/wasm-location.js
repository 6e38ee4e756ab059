// Where the runtime's WebAssembly module lives, relative to this file. `make dist` rewrites this
// file in the static-site bundle, where pldr.wasm sits beside the js/ folder.
export const DEFAULT_WASM_URL = new URL('../../dist/pldr.wasm', import.meta.url);
