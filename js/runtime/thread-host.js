// Threads for an engine that runs in a Web Worker, started by the page instead of by the engine's
// worker. Why: Firefox (153 ESR) can block a worker forever inside a nested `new Worker(...)` when
// the page has just replaced a document whose workers are shutting down (a reload, a navigation
// within the origin) — the constructor waits on the main thread and never returns, so no timeout
// in that worker can fire. A worker started by the page's main thread does not wait that way. The
// engine worker asks the page for each thread; the page starts it and hands both ends a
// MessagePort, over which threads.js and thread-worker.js speak as they would directly:
//
//   engine → page     {type: 'pldr-thread-spawn', threadId, url}
//   page → engine     {type: 'pldr-thread-port', threadId, port} | {type: 'pldr-thread-port', threadId, error}
//   engine → page     {type: 'pldr-thread-terminate', threadId}
//   page → thread     {port}                           (once the thread says 'loaded')
//
// Page:   const host = hostThreads(worker);  …  host.terminate()   (PldrWorker does both)
// Worker: startPool(…, {spawn: threadsFromParent()})             (js/browser/worker.js)
import { startThreadWorker } from './threads.js';

/**
 * Answers `worker`'s requests for threads: starts each as a worker of this page. terminate()
 * ends every thread it started (with the engine worker: nothing else would).
 * @param {Worker} worker @returns {{terminate(): void}}
 */
export function hostThreads(worker) {
  /** @type {Map<number, Worker>} */
  const threads = new Map();
  const onMessage = (/** @type {MessageEvent} */ event) => {
    const m = event.data;
    if (m?.type === 'pldr-thread-spawn') spawn(m.threadId, m.url);
    else if (m?.type === 'pldr-thread-terminate') end(m.threadId);
  };
  const end = (/** @type {number} */ id) => {
    threads.get(id)?.terminate();
    threads.delete(id);
  };
  /** @param {number} threadId @param {string} url */
  function spawn(threadId, url) {
    let thread;
    try {
      thread = startThreadWorker(new URL(url));
    } catch (err) {
      worker.postMessage({ type: 'pldr-thread-port', threadId, error: `the page cannot start a thread worker (${err?.message ?? err})` });
      return;
    }
    threads.set(threadId, thread);
    const { port1: threadEnd, port2: engineEnd } = new MessageChannel();
    let handedOver = false;
    thread.addEventListener('message', (e) => {
      if (e.data?.type === 'loaded' && !handedOver) {
        handedOver = true;
        thread.postMessage({ port: threadEnd }, [threadEnd]);
      } else if (e.data?.type === 'error' && !handedOver) {
        threadEnd.postMessage(e.data); // its script failed before it could reach the engine
      } else if (e.data?.type === 'closed') {
        threads.delete(threadId);
      }
    });
    thread.addEventListener('error', (e) => {
      e.preventDefault?.();
      if (!handedOver) threadEnd.postMessage({ type: 'error', message: e.message || 'the thread worker failed to start' });
    });
    worker.postMessage({ type: 'pldr-thread-port', threadId, port: engineEnd }, [engineEnd]);
  }
  worker.addEventListener('message', onMessage);
  return {
    terminate() {
      worker.removeEventListener('message', onMessage);
      for (const id of [...threads.keys()]) end(id);
    },
  };
}

/**
 * For threads.js startPool in a worker whose page runs hostThreads: a spawner that asks the page.
 * @param {{postMessage(m: any): void, addEventListener(type: string, fn: (e: MessageEvent) => void): void}} [scope]
 * @returns {import('./threads.js').SpawnThread}
 */
export function threadsFromParent(scope = /** @type {any} */ (globalThis)) {
  let next = 1;
  /** @type {Map<number, (reply: any) => void>} */
  const waiting = new Map();
  scope.addEventListener('message', (event) => {
    const m = event.data;
    if (m?.type !== 'pldr-thread-port') return;
    event.stopImmediatePropagation();
    waiting.get(m.threadId)?.(m);
    waiting.delete(m.threadId);
  });
  return async (onMessage, url) => {
    const threadId = next++;
    const reply = await new Promise((resolve) => {
      waiting.set(threadId, resolve);
      scope.postMessage({ type: 'pldr-thread-spawn', threadId, url: url.href });
    });
    if (reply.error) throw new Error(reply.error);
    /** @type {MessagePort} */
    const port = reply.port;
    port.onmessage = (e) => onMessage(e.data);
    port.onmessageerror = () => onMessage({ type: 'error', message: 'a message from the thread could not be read' });
    return {
      post: (m) => port.postMessage(m),
      terminate: () => {
        port.close();
        scope.postMessage({ type: 'pldr-thread-terminate', threadId });
      },
    };
  };
}
