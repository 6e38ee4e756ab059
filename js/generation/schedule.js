// Yields to the event loop between tokens so aborts, worker messages and rendering get a turn.
// setTimeout(0) is clamped to 4 ms in browsers; a MessageChannel round trip is not.

/** @returns {Promise<void>} */
export function yieldToEventLoop() {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
      channel.port2.postMessage(0);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
