#!/usr/bin/env node
// `make pack`: the npm tarballs, their sizes and what is in them.
//
//   pldr-web-VERSION.tgz        the runtime: js/, dist/*.wasm, types/ (.d.ts), docs/ (package.json
//                               `files`; prepack builds the wasm and the types). Budget: 1 MB.
//   pldr-web-tiny-VERSION.tgz   the default model pldr-tiny (43 MB) as its own package of the same
//                               version (tools/pack-model.mjs), so that pldr-web stays small and an
//                               npm CDN serves the model beside the element (js/defaults.js)
//
//   node tools/pack.mjs [--out dist/npm] [--no-model]
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packModel } from './pack-model.mjs';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The most the runtime's tarball may weigh (the model is not in it). */
export const TARBALL_BUDGET = 1024 * 1024;

/**
 * @typedef {{file: string, size: number, unpackedSize: number, files: {path: string, size: number}[],
 *   name: string, version: string}} Packed   file: the tarball's path; size: its bytes
 */

/**
 * Runs `npm pack` in `dir` (its prepack script included) and writes the tarball to `out`.
 * @param {string} dir @param {string} out @param {{ignoreScripts?: boolean}} [o] @returns {Packed}
 */
export function npmPack(dir, out, { ignoreScripts = false } = {}) {
  mkdirSync(out, { recursive: true });
  const args = ['pack', '--json', '--pack-destination', resolve(out), ...(ignoreScripts ? ['--ignore-scripts'] : [])];
  const r = spawnSync('npm', args, { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`npm pack in ${dir} failed (exit ${r.status}):\n${r.stderr}`);
  // npm prints the prepack script's output before the JSON on stdout: the JSON is the last array
  const json = JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('\n[') + 1));
  const [info] = json;
  return { file: join(resolve(out), info.filename), size: info.size, unpackedSize: info.unpackedSize,
    files: info.files.map(({ path, size }) => ({ path, size })), name: info.name, version: info.version };
}

/** The runtime's tarball (prepack builds dist/*.wasm and types/). @param {string} out */
export function packRuntime(out) {
  return npmPack(ROOT, out);
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

/** Bytes per top-level folder of a tarball: e.g. {js: …, dist: …, types: …}. @param {Packed} p */
export function sizesByFolder(p) {
  const folders = {};
  for (const f of p.files) {
    const top = f.path.includes('/') ? `${f.path.split('/')[0]}/` : f.path;
    folders[top] = (folders[top] ?? { files: 0, bytes: 0 });
    folders[top].files++;
    folders[top].bytes += f.size;
  }
  return folders;
}

function main(argv) {
  let out = 'dist/npm', model = true;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) out = argv[++i];
    else if (argv[i] === '--no-model') model = false;
    else throw new Error(`usage: node tools/pack.mjs [--out DIR] [--no-model] (bad: ${argv[i]})`);
  }
  const runtime = packRuntime(out);
  const where = (file) => relative(process.cwd(), file);
  console.log(`pack: ${where(runtime.file)}: ${kb(runtime.size)} (${kb(runtime.unpackedSize)} unpacked, ${runtime.files.length} files)`);
  for (const [folder, s] of Object.entries(sizesByFolder(runtime))) {
    console.log(`  ${folder.padEnd(16)} ${String(s.files).padStart(4)} files ${kb(s.bytes).padStart(10)}`);
  }
  const wasm = runtime.files.filter((f) => f.path.endsWith('.wasm')).map((f) => `${f.path} ${kb(f.size)}`);
  console.log(`  wasm: ${wasm.join(', ') || 'NONE'}`);
  const within = runtime.size <= TARBALL_BUDGET;
  console.log(`  ${kb(runtime.size)}: ${within ? 'within' : 'OVER'} the ${kb(TARBALL_BUDGET)} budget`);
  if (model) {
    const tiny = packModel({ out });
    console.log(`pack: ${where(tiny.file)}: ${mb(tiny.size)} (${mb(tiny.unpackedSize)} unpacked, ${tiny.files.length} files) — the default model`);
  }
  return within ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`pack: ${err.message}`);
    process.exitCode = 1;
  }
}
