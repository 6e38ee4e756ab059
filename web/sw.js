// Service worker of the chat page: keeps the page, its JavaScript modules and pldr.wasm in the
// Cache API so that after the first visit the page opens offline. Network first (with a short
// timeout) so a deployed or edited page is picked up at once; the cache when the network fails.
// Model files are left alone: js/loading/loader.js keeps them in its own cache ('pldr-models-v1').
//
// The engine's module list is not written down here: on install the worker follows the static
// imports from the entry modules, and the wasm modules are wherever js/runtime/wasm-location.js says.
const CACHE = 'pldr-app-v1';
const PAGES = ['./', './index.html', './embed.html', './app.css', './icon.svg'];
const ENTRY_MODULES = ['./app.js', '../js/browser/worker-client.js', '../js/browser/worker.js', '../js/pldr-chat.js',
  '../js/runtime/thread-worker.js'];
const WASM_LOCATION = '../js/runtime/wasm-location.js';
const NETWORK_TIMEOUT_MS = 4000;
const APP_FILE = /(\/|\.html|\.m?js|\.css|\.wasm|\.svg|\.png|\.ico|\.webmanifest)$/;

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('pldr-app-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || request.headers.has('range')) return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode !== 'navigate' && !APP_FILE.test(url.pathname)) return;
  event.respondWith(networkFirst(request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetchWithTimeout(request, NETWORK_TIMEOUT_MS);
    if (response.ok && response.status === 200 && response.type === 'basic') {
      await cache.put(stripSearch(request.url), response.clone()).catch(() => {});
    }
    return response;
  } catch (err) {
    const cached = await cache.match(stripSearch(request.url)) ??
      (request.mode === 'navigate' ? await cache.match(new URL('./index.html', self.location.href).href) : undefined);
    if (cached) return cached;
    throw err;
  }
}

function fetchWithTimeout(request, ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  return fetch(request, { signal: controller.signal }).finally(() => clearTimeout(timer));
}

function stripSearch(href) {
  const url = new URL(href);
  url.search = '';
  url.hash = '';
  return url.href;
}

/** Caches the pages, every module reachable from the entry modules, and the wasm. */
async function precache() {
  const cache = await caches.open(CACHE);
  const here = (path) => new URL(path, self.location.href).href;
  const keep = async (href) => {
    const response = await fetch(href, { cache: 'no-cache' }).catch(() => null);
    if (!response?.ok) return null;
    await cache.put(href, response.clone());
    return response;
  };
  await Promise.all(PAGES.map((p) => keep(here(p))));

  const seen = new Set();
  let queue = ENTRY_MODULES.map(here);
  while (queue.length) {
    const next = [];
    await Promise.all(queue.filter((href) => !seen.has(href)).map(async (href) => {
      seen.add(href);
      const response = await keep(href);
      if (!response) return;
      for (const spec of staticImports(await response.text())) next.push(new URL(spec, href).href);
    }));
    queue = next;
  }

  const location = await fetch(here(WASM_LOCATION)).then((r) => (r.ok ? r.text() : '')).catch(() => '');
  for (const wasm of location.matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g)) { // every variant
    await keep(new URL(wasm[1], here(WASM_LOCATION)).href);
  }
}

/** Relative specifiers of `import … from '…'`, `import '…'` and `export … from '…'`. */
function staticImports(source) {
  const specs = [];
  const re = /(?:^|[;\n}])\s*(?:import|export)\b\s*(?:[^'"();]*?\bfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/g;
  for (let m; (m = re.exec(source));) specs.push(m[1]);
  return specs;
}
