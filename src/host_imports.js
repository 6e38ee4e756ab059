// Declares the functions the module imports from its host (src/platform.c) so Emscripten's linker
// accepts them; js/runtime/wasm.js provides them at instantiation. Not used at run time.
mergeInto(LibraryManager.library, {
  pldr_host_now_ms: function () { return performance.now(); },
});
