// One thread of the kernels' pool (js/runtime/threads.js starts it; src/threads/pool.c is what it
// runs): a worker_thread in Node, a module Web Worker in browsers. It instantiates the threaded
// module over the engine's shared memory, moves its stack pointer to the stack the pool gave it,
// says it is ready and calls pldr_threads_work, which returns only when the pool is freed.
//
//   thread → parent  {type: 'loaded'}                      listening (a message sent before is lost)
//   parent → thread  {module, memory, pool, index, stack}
//   thread → parent  {type: 'ready'} | {type: 'exit'} | {type: 'error', message, lost?: true}
//
// The parent is the engine's thread, or — for a worker the page started for an engine in a worker
// (thread-host.js) — the page, whose first message is {port}: a MessagePort to the engine, over
// which the same conversation then runs ('loaded' again, the init, the replies). The page hears
// {type: 'closed'} when the thread ends.
//
// An exception inside pldr_threads_work (a trap) ends the thread: it tells the pool
// (pldr_threads_lost: the chunk it held is run again by the engine's thread, the others take its
// share) and says so with `lost`; before pldr_threads_work, the pool's start fails instead.
const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const parent = isNode ? (await import('node:worker_threads')).parentPort : self;

/** The next message on `port` (a MessagePort, Node's parentPort or the worker's scope). */
function nextMessage(port) {
  return new Promise((resolve) => {
    if (isNode) port.once('message', resolve);
    else port.addEventListener('message', (event) => resolve(event.data), { once: true });
  });
}

/** Instantiates the module on this thread and works for the pool; its last word to the engine. */
async function run({ module, memory, pool, index, stack }, engine) {
  let x = null, working = false;
  try {
    const imports = { env: { memory, emscripten_notify_memory_growth() {}, pldr_host_now_ms: () => performance.now() } };
    const instance = await WebAssembly.instantiate(module, imports);
    x = instance.exports;
    x.stackRestore(stack); // every instance starts on the same __stack_pointer: the engine's
    engine.postMessage({ type: 'ready' });
    working = true;
    x.pldr_threads_work(pool, index);
    return { type: 'exit' };
  } catch (err) {
    if (working) {
      x.stackRestore(stack); // where the exception left it: anywhere
      x.pldr_threads_lost(pool, index);
    }
    return { type: 'error', message: String(err?.message ?? err), ...(working && { lost: true }) };
  }
}

let engine = parent;
const first = nextMessage(parent);
parent.postMessage({ type: 'loaded' });
let init = await first;
if (!isNode && init?.port) { // started by the page: the engine is at the other end of the port
  engine = init.port;
  const next = nextMessage(engine);
  engine.start();
  engine.postMessage({ type: 'loaded' });
  init = await next;
}
engine.postMessage(await run(init, engine));
if (!isNode) {
  if (engine !== parent) parent.postMessage({ type: 'closed' });
  self.close();
}
