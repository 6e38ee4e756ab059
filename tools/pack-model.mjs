#!/usr/bin/env node
// The default model as an npm package of its own: pldr-web-tiny, the same version as pldr-web,
// holding models/pldr-tiny/ as it is (config, index, shards, tokenizer) at the package's root, so
// the package folder is a model folder: node_modules/pldr-web-tiny/ on disk, or
// https://cdn.jsdelivr.net/npm/pldr-web-tiny@VERSION/ on a CDN (js/defaults.js DEFAULT_MODEL_URL).
//
// Why a second package: the weights are 43 MB and pldr-web must stay under 1 MB for people who
// embed the element or bundle the API with a model of their own; those who want the default
// install it (`npm install -g pldr-web-tiny` beside `pldr-web`), or the CLI downloads it once.
//
//   node tools/pack-model.mjs [--out dist/npm] [--model models/pldr-tiny]
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_PACKAGE } from '../js/cli/options.mjs';
import { ROOT, npmPack } from './pack.mjs';

const MODEL_FILE = /^(config\.json|model.*\.safetensors(\.index\.json)?|manifest\.json|tokenizer\.model|train_log\.json)$/;

/** A hard link where the file system allows it (the shards are large), else a copy. */
function place(from, to) {
  try { linkSync(from, to); } catch { copyFileSync(from, to); }
}

/**
 * Stages the model package in `staging` and packs it into `out`.
 * @param {{out: string, model?: string, staging?: string}} o
 * @returns {import('./pack.mjs').Packed}
 */
export function packModel({ out, model = join(ROOT, 'models/pldr-tiny'), staging = join(ROOT, 'build/pack', DEFAULT_MODEL_PACKAGE) }) {
  if (!existsSync(join(model, 'config.json'))) throw new Error(`${model} is not a model folder (no config.json)`);
  const { version, license } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const files = readdirSync(model).filter((f) => MODEL_FILE.test(f) && statSync(join(model, f)).isFile());
  for (const f of files) place(join(model, f), join(staging, f));
  const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
  writeFileSync(join(staging, 'package.json'), `${JSON.stringify({
    name: DEFAULT_MODEL_PACKAGE,
    version,
    description: `pldr-tiny, the default model of pldr-web: a PLDR-LLM of ${config.num_hidden_layers} layers, ` +
      `D ${config.hidden_size}, vocabulary ${config.vocab_size}, float32 safetensors in Hugging Face layout`,
    keywords: ['pldr-llm', 'pldr-web', 'model', 'safetensors'],
    license,
    files: [...files, 'README.md'],
  }, null, 2)}\n`);
  writeFileSync(join(staging, 'README.md'), [
    `# ${DEFAULT_MODEL_PACKAGE}`, '',
    'pldr-tiny, the default model of [pldr-web](https://www.npmjs.com/package/pldr-web) (a PLDR-LLM runtime for',
    'browsers and Node): this folder is a model folder in Hugging Face layout (`config.json`, safetensors shards',
    'with their index, `tokenizer.model`; `train_log.json` says how it was trained).', '',
    '```sh',
    'npm install -g pldr-web pldr-web-tiny   # the CLI finds it beside pldr-web',
    'pldr generate --prompt "The Python language is" --greedy',
    '```', '',
    `In a page, \`<pldr-chat>\` loaded from an npm CDN uses it by default; or pass its folder:`,
    `\`<pldr-chat model="https://cdn.jsdelivr.net/npm/${DEFAULT_MODEL_PACKAGE}@${version}/">\`.`, '',
  ].join('\n'));
  return npmPack(staging, out);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const o = { out: 'dist/npm' };
  for (let i = 0; i < argv.length; i += 2) {
    if (!['--out', '--model'].includes(argv[i]) || i + 1 >= argv.length) {
      console.error(`usage: node tools/pack-model.mjs [--out DIR] [--model DIR] (bad: ${argv[i]})`);
      process.exit(2);
    }
    o[argv[i].slice(2)] = resolve(argv[i + 1]);
  }
  const p = packModel(o);
  console.log(`pack-model: ${p.file}: ${(p.size / 1e6).toFixed(1)} MB, ${p.files.length} files`);
}
