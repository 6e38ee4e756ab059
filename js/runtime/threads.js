// The threaded module's side in JavaScript: its shared memory, and the workers that run the
// kernels' thread pool (src/threads/pool.c, include/pldr.h pldr_threads_*). The engine's thread
// is the pool's thread 0; threads 1..n-1 are workers (js/runtime/thread-worker.js) that each
// instantiate the same module over the same memory. Node: worker_threads; browsers: module Web
// Workers, started from the engine's own worker (nested workers).
import { onBrowserMainThread } from './features.js';
import { startBlobWorker } from './blob-worker.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const WORKER_URL = new URL('./thread-worker.js', import.meta.url);
/** include/pldr.h pldr_threads_flags */
export const THREADS_FLAGS = Object.freeze({ CALLER_SPINS: 1 });
/** Most threads a pool takes (pldr_threads_new). */
export const MAX_THREADS = 64;
const START_TIMEOUT_MS = 60_000;

/** @param {Uint8Array} b @param {{at: number}} p an unsigned LEB128 at p.at (advanced past it) */
function leb(b, p) {
  let result = 0, shift = 0, byte;
  do {
    if (p.at >= b.length) throw new RangeError('truncated');
    byte = b[p.at++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return result;
}

/**
 * The memory a module imports, read from its import section (limits in 64 KiB pages); null when
 * it imports none or the bytes are not a module.
 * @param {Uint8Array} bytes @returns {{initial: number, maximum: number|undefined, shared: boolean}|null}
 */
export function importedMemory(bytes) {
  try {
    const p = { at: 8 }; // past the magic number and version
    const skip = () => { const n = leb(bytes, p); p.at += n; };
    while (p.at < bytes.length) {
      const id = bytes[p.at++], size = leb(bytes, p);
      if (id !== 2) { p.at += size; continue; }
      for (let count = leb(bytes, p); count > 0; count--) {
        skip(); skip(); // module and field names
        const kind = bytes[p.at++];
        if (kind === 0) leb(bytes, p); // function: type index
        else if (kind === 1) { p.at++; const flags = bytes[p.at++]; leb(bytes, p); if (flags & 1) leb(bytes, p); } // table
        else if (kind === 3) p.at += 2; // global: type, mutability
        else if (kind === 2) {
          const flags = bytes[p.at++], initial = leb(bytes, p);
          return { initial, maximum: flags & 1 ? leb(bytes, p) : undefined, shared: (flags & 2) !== 0 };
        } else return null;
      }
      return null;
    }
  } catch { /* not a module */ }
  return null;
}

/**
 * A shared memory for a module that imports `limits`: the declared maximum reserved when the
 * engine lets us, else smaller maximums down to 1 GiB (a shared memory cannot move, so its
 * maximum is reserved up front). `maximum`: the pages it may grow to.
 * @param {{initial: number, maximum: number|undefined}} limits
 * @returns {{memory: WebAssembly.Memory, maximum: number}}
 */
export function sharedMemory(limits) {
  let maximum = limits.maximum ?? 65536;
  for (;;) {
    try {
      return { memory: new WebAssembly.Memory({ initial: limits.initial, maximum, shared: true }), maximum };
    } catch (err) {
      if (maximum <= 16384 || maximum / 2 < limits.initial) throw err;
      maximum = Math.floor(maximum / 2);
    }
  }
}

/** A module Web Worker running thread-worker.js at `url` (blob-worker.js: why through a blob). @param {URL} url @returns {Worker} */
export function startThreadWorker(url) {
  const code = `import(${JSON.stringify(url.href)}).catch((e) => postMessage({ type: 'error', message: String(e?.message ?? e) }));`;
  return startBlobWorker(code, url, 'pldr-thread');
}

/**
 * @typedef {{post(message: any): void, terminate(): void}} ThreadLink
 * @typedef {(onMessage: (message: any) => void, url: URL) => Promise<ThreadLink>} SpawnThread
 *   starts a worker running thread-worker.js at url whose messages — and failure to start, as
 *   {type: 'error'} — go to onMessage (the default: a worker of this thread; thread-host.js: one
 *   the page starts)
 */

/** @type {SpawnThread} a worker_thread (Node) or a Web Worker nested in this one */
async function spawnWorker(onMessage, url) {
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    // not the engine's --input-type (or -e): a worker started from a file with it fails
    const execArgv = process.execArgv.filter((a) => !/^--input-type(=|$)/.test(a));
    const w = new Worker(url, { execArgv });
    w.on('message', onMessage);
    w.on('error', (err) => onMessage({ type: 'error', message: String(err?.message ?? err) }));
    w.unref(); // after the listeners (a listener added later refs it again): a pool left running does not keep the process alive
    return { post: (m) => w.postMessage(m), terminate: () => { w.terminate(); } };
  }
  const w = startThreadWorker(url);
  w.addEventListener('message', (e) => onMessage(e.data));
  w.addEventListener('error', (e) => {
    e.preventDefault?.();
    onMessage({ type: 'error', message: e.message || 'the thread worker failed to start' });
  });
  return { post: (m) => w.postMessage(m), terminate: () => w.terminate() };
}

/**
 * Starts a pool of n threads for the threaded module's instance `x` (n ≥ 2): pldr_threads_new,
 * then n-1 workers over the same module and memory, each on its own stack. Resolves once every
 * worker runs (it has called, or is about to call, pldr_threads_work); rejects when one cannot
 * start — the pool is then dropped, not freed: a worker that started may still enter it.
 * A worker that fails later (an exception inside pldr_threads_work) has told the pool itself
 * (thread-worker.js: pldr_threads_lost); its message goes to onLost.
 * @param {Record<string, Function>} x the exports of the engine's instance
 * @param {WebAssembly.Module} module @param {WebAssembly.Memory} memory @param {number} n
 * @param {{onLost?: (index: number, message: string) => void, workerUrl?: (index: number) => URL, spawn?: SpawnThread,
 *   startTimeoutMs?: number}} [options]
 *   workerUrl: the script of thread i (default thread-worker.js; tests give one that fails);
 *   spawn: how a thread's worker is started (default: by this thread); startTimeoutMs: how long
 *   each may take to start (spawned, instantiated, ready)
 * @returns {Promise<{pool: number, threads: number, close(): void}>}
 */
export async function startPool(x, module, memory, n, { onLost = () => {}, workerUrl = () => WORKER_URL, spawn = spawnWorker,
  startTimeoutMs = START_TIMEOUT_MS } = {}) {
  const flags = onBrowserMainThread() ? THREADS_FLAGS.CALLER_SPINS : 0;
  const pool = x.pldr_threads_new(n, flags) >>> 0;
  if (!pool) throw new Error(`pldr_threads_new(${n}) failed: out of WebAssembly memory for the pool's stacks`);
  const workers = [], timers = [];
  try {
    const started = [];
    for (let i = 1; i < n; i++) {
      let settle = () => {};
      const running = new Promise((resolve, reject) => {
        timers.push(setTimeout(() => reject(new Error(`thread ${i} did not start within ${startTimeoutMs / 1000} s`)), startTimeoutMs));
        settle = (m) => {
          if (m?.type === 'ready') resolve();
          else if (m?.type === 'error') reject(new Error(`thread ${i}: ${m.message}`));
        };
      });
      running.catch(() => {}); // awaited below, or given up with the pool
      started.push(running);
      const init = { module, memory, pool, index: i, stack: x.pldr_threads_stack(pool, i) >>> 0 };
      let w = null, loaded = false, ready = false;
      const start = () => { // once the worker listens
        if (!w || !loaded) return;
        try {
          w.post(init);
        } catch (err) { // e.g. DataCloneError: the memory cannot be shared with this worker
          settle({ type: 'error', message: `its module and memory cannot be sent to it (${err?.message ?? err})` });
        }
      };
      const spawned = spawn((m) => {
        if (m?.type === 'loaded') { loaded = true; start(); } else if (!ready) { ready = m?.type === 'ready'; settle(m); }
        else if (m?.type === 'error') onLost(i, m.message);
      }, workerUrl(i));
      try {
        w = await Promise.race([spawned, running.then(() => spawned)]); // a spawner that never answers times out
      } catch (err) {
        spawned.then((late) => late.terminate(), () => {});
        throw err;
      }
      workers.push(w);
      start();
    }
    await Promise.all(started);
  } catch (err) {
    for (const w of workers) w.terminate();
    throw err;
  } finally {
    timers.forEach(clearTimeout);
  }
  let open = true;
  return {
    pool,
    threads: n,
    close() {
      if (!open) return;
      open = false;
      x.pldr_threads_free(pool); // returns once every worker has left pldr_threads_work
      for (const w of workers) w.terminate();
    },
  };
}
