// Where the runtime finds its files when it is not a checkout: the default model beside the npm
// package (node_modules, npm CDNs) and not elsewhere (a static site in a folder named pldr-web),
// and the wasm list written in the form bundlers follow. The installed package itself is tested
// in tests/package.test.mjs, the CDN layout in a browser in tests/engines.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { defaultModelUrl } from '../js/defaults.js';
import { DEFAULT_MODEL_PACKAGE } from '../js/cli/options.mjs';
import { DEFAULT_WASM_URL, WASM_URLS } from '../js/runtime/wasm-location.js';

test('the default model: pldr-web-tiny beside an installed or CDN-served pldr-web, else models/pldr-tiny/ beside js/', () => {
  const cases = {
    'file:///home/me/pldr/': 'file:///home/me/pldr/models/pldr-tiny/',
    'file:///app/node_modules/pldr-web/': 'file:///app/node_modules/pldr-web-tiny/',
    'file:///usr/lib/node_modules/pldr-web/': 'file:///usr/lib/node_modules/pldr-web-tiny/',
    'https://cdn.jsdelivr.net/npm/pldr-web@0.2.0/': 'https://cdn.jsdelivr.net/npm/pldr-web-tiny@0.2.0/',
    'https://cdn.jsdelivr.net/npm/pldr-web@0/': 'https://cdn.jsdelivr.net/npm/pldr-web-tiny@0/',
    'https://cdn.jsdelivr.net/npm/pldr-web/': 'https://cdn.jsdelivr.net/npm/pldr-web-tiny/',
    'https://unpkg.com/pldr-web@latest/': 'https://unpkg.com/pldr-web-tiny@latest/',
    'http://localhost:8080/node_modules/pldr-web/': 'http://localhost:8080/node_modules/pldr-web-tiny/',
    // a static site (make dist) that happens to live in a folder called pldr-web keeps its own model
    'https://someone.github.io/pldr-web/': 'https://someone.github.io/pldr-web/models/pldr-tiny/',
    'https://example.org/vendor/pldr-web-extra/': 'https://example.org/vendor/pldr-web-extra/models/pldr-tiny/',
  };
  for (const [root, model] of Object.entries(cases)) assert.equal(defaultModelUrl(new URL(root)).href, model, root);
  assert.equal(DEFAULT_MODEL_PACKAGE, 'pldr-web-tiny');
});

test('every wasm module is a literal new URL(\'../../dist/….wasm\', import.meta.url), the form bundlers copy', () => {
  const source = readFileSync(new URL('../js/runtime/wasm-location.js', import.meta.url), 'utf8');
  const literal = [...source.matchAll(/new URL\('\.\.\/\.\.\/dist\/([\w.-]+\.wasm)', import\.meta\.url\)/g)].map((m) => m[1]);
  const listed = Object.values(WASM_URLS).map((u) => u.pathname.split('/').pop());
  assert.deepEqual(literal.sort(), [...listed].sort());
  assert.ok(Object.values(WASM_URLS).includes(DEFAULT_WASM_URL));
  assert.ok(listed.includes('pldr.wasm'));
});
