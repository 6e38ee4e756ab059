// One thread of the kernels' pool (js/runtime/threads.js starts it; src/threads/pool.c is what it
// runs): a worker_thread in Node, a module Web Worker in browsers. It instantiates the threaded
// module over the engine's shared memory, moves its stack pointer to the stack the pool gave it,
// says it is ready and calls pldr_threads_work, which returns only when the pool is freed.
//
//   thread → engine  {type: 'loaded'}                      listening (a message sent before is lost)
//   engine → thread  {module, memory, pool, index, stack}
//   thread → engine  {type: 'ready'} | {type: 'exit'} | {type: 'error', message}
const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const port = isNode ? (await import('node:worker_threads')).parentPort : self;

/** @param {(data: any) => void} handler */
function onMessage(handler) {
  if (isNode) port.once('message', handler);
  else port.addEventListener('message', (event) => handler(event.data), { once: true });
}

onMessage(async ({ module, memory, pool, index, stack }) => {
  try {
    const imports = { env: { memory, emscripten_notify_memory_growth() {}, pldr_host_now_ms: () => performance.now() } };
    const instance = await WebAssembly.instantiate(module, imports);
    const x = instance.exports;
    x.stackRestore(stack); // every instance starts on the same __stack_pointer: the engine's
    port.postMessage({ type: 'ready' });
    x.pldr_threads_work(pool, index);
    port.postMessage({ type: 'exit' });
  } catch (err) {
    port.postMessage({ type: 'error', message: String(err?.message ?? err) });
  }
  if (!isNode) self.close();
});
port.postMessage({ type: 'loaded' });
