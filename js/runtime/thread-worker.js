// One thread of the kernels' pool (js/runtime/threads.js starts it; src/threads/pool.c is what it
// runs): a worker_thread in Node, a module Web Worker in browsers. It instantiates the threaded
// module over the engine's shared memory, moves its stack pointer to the stack the pool gave it,
// says it is ready and calls pldr_threads_work, which returns only when the pool is freed.
//
//   thread → engine  {type: 'loaded'}                      listening (a message sent before is lost)
//   engine → thread  {module, memory, pool, index, stack}
//   thread → engine  {type: 'ready'} | {type: 'exit'} | {type: 'error', message, lost?: true}
//
// An exception inside pldr_threads_work (a trap) ends the thread: it tells the pool
// (pldr_threads_lost: the chunk it held is run again by the engine's thread, the others take its
// share) and says so with `lost`; before pldr_threads_work, the pool's start fails instead.
const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const port = isNode ? (await import('node:worker_threads')).parentPort : self;

/** @param {(data: any) => void} handler */
function onMessage(handler) {
  if (isNode) port.once('message', handler);
  else port.addEventListener('message', (event) => handler(event.data), { once: true });
}

onMessage(async ({ module, memory, pool, index, stack }) => {
  let x = null, working = false;
  try {
    const imports = { env: { memory, emscripten_notify_memory_growth() {}, pldr_host_now_ms: () => performance.now() } };
    const instance = await WebAssembly.instantiate(module, imports);
    x = instance.exports;
    x.stackRestore(stack); // every instance starts on the same __stack_pointer: the engine's
    port.postMessage({ type: 'ready' });
    working = true;
    x.pldr_threads_work(pool, index);
    port.postMessage({ type: 'exit' });
  } catch (err) {
    if (working) {
      x.stackRestore(stack); // where the exception left it: anywhere
      x.pldr_threads_lost(pool, index);
    }
    port.postMessage({ type: 'error', message: String(err?.message ?? err), ...(working && { lost: true }) });
  }
  if (!isNode) self.close();
});
port.postMessage({ type: 'loaded' });
