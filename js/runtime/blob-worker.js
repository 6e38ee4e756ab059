// Module Web Workers started through a blob: URL whose script imports the real one, so that (1)
// the worker shares its creator's service worker (a blob worker inherits its creator's controller;
// a worker at its own URL is matched against scopes by that URL) and the engine's files load
// offline, and (2) a page may load the script from another origin that sends CORS headers.

/**
 * A module worker named `name` running `code` from a blob: URL — or, where blob: workers are
 * refused (a CSP without blob:), `url` itself.
 * @param {string} code the blob's script: it imports url @param {URL} url @param {string} name
 * @returns {Worker}
 */
export function startBlobWorker(code, url, name) {
  try {
    const blob = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    const worker = new Worker(blob, { type: 'module', name });
    setTimeout(() => URL.revokeObjectURL(blob), 60_000);
    return worker;
  } catch {
    return new Worker(url, { type: 'module', name });
  }
}
