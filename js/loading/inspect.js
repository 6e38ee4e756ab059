// Inspects a model folder without loading its weights: reads config.json, the tokenizer, the
// manifest, the index and only the header of every shard, and asks the engine whether each
// tensor name, shape and dtype fits the config. Reports everything it finds wrong at once.
import { Model } from '../runtime/model.js';
import { INDEX_FILE, SINGLE_FILE, SMALL_FILE_LIMITS, concat, openFiles, parseIndex, parseManifest } from './loader.js';
import { LoadError } from '../errors.js';
import { SafetensorsReader } from './safetensors.js';
import { createRuntime } from '../runtime/wasm.js';

/**
 * @typedef {{name: string, dtype: string, shape: number[], bytes: number, file: string, quant?: string}} TensorRow
 * @typedef {{source: string, config: Record<string, any>|null,
 *   hparams: Record<string, number>|null,   // config as the runtime reads it, by Hugging Face names
 *   files: {file: string, size: number|null}[],
 *   tensors: TensorRow[], parameters: number, bytes: number, tokenizer: {bytes: number, pieces?: number}|null,
 *   problems: string[]}} InspectReport
 */

const decoder = new TextDecoder();

/** Reads a whole small file (at most SMALL_FILE_LIMITS[file] bytes), or null when it does not exist. */
async function readSmall(source, file, signal) {
  const limit = SMALL_FILE_LIMITS[file];
  const tooLarge = (what) => new LoadError('E_TOO_LARGE', `${source.name(file)}: ${what}, more than the ` +
    `${limit} bytes (${limit / 2 ** 20} MiB) a ${file} may have`, { file });
  try {
    const { chunks, size } = await source.open(file, { signal });
    if (size != null && size > limit) throw tooLarge(`${size} bytes`);
    const parts = [];
    let length = 0;
    for await (const c of chunks) {
      length += c.length;
      if (length > limit) throw tooLarge(`${length} bytes read so far`);
      parts.push(c.slice());
    }
    return concat(parts);
  } catch (err) {
    if (err?.code === 'E_NOT_FOUND') return null;
    throw err;
  }
}

/** Reads just enough of a shard to parse its header. */
async function readHeader(source, file, signal) {
  const { chunks, size } = await source.open(file, { signal });
  let header = null;
  const reader = new SafetensorsReader(file, { fileSize: size, onHeader: (h) => { header = h; }, onTensor: () => ({ write() {}, end() {} }) });
  for await (const chunk of chunks) {
    reader.push(chunk);
    if (header) break; // leaving the loop cancels the rest of the download
  }
  if (!header) reader.end(); // throws: what ended before the header did
  return { header, size };
}

function parseJson(bytes, file, problems) {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    problems.push(`${file} is not valid JSON`);
    return null;
  }
}

/** The shard files, as the loader reads them (the same checks: no path out of the folder). */
async function shardList(source, signal, problems) {
  const index = await readSmall(source, INDEX_FILE, signal);
  if (!index) return [SINGLE_FILE];
  try {
    return parseIndex(index).shards;
  } catch (err) {
    problems.push(err.message);
    return [];
  }
}

/**
 * Engine-side checks: config (read by the runtime's own names: report.hparams), the tokenizer's
 * size against it, each tensor, and what is missing.
 * @param {Record<string, any>} config @param {any[]} tensors @param {InspectReport} report
 */
async function checkWithEngine(config, tensors, report) {
  const { problems, tokenizer } = report;
  const rt = await createRuntime();
  let model;
  try {
    model = Model.create(rt, config);
  } catch (err) {
    problems.push(`config.json: ${err.message}`);
    return;
  }
  try {
    report.hparams = model.hparams();
    if (tokenizer?.pieces != null && tokenizer.pieces !== model.vocabSize) {
      problems.push(`tokenizer.model has ${tokenizer.pieces} pieces but the config's vocabulary is ${model.vocabSize}`);
    }
    for (const t of tensors) {
      try {
        model.checkTensor(t);
      } catch (err) {
        problems.push(`${t.file}: ${err.message}`);
      }
    }
    for (const name of model.missingTensors()) problems.push(`tensor ${name} is missing`);
  } finally {
    model.free();
  }
}

/**
 * @param {string|URL} source a model folder (URL, or a directory in Node)
 * @param {{signal?: AbortSignal, fetch?: typeof fetch, tokenizer?: (bytes: Uint8Array) => {vocabSize: number}}} [options]
 * @returns {Promise<InspectReport>}
 */
export async function inspectModel(source, options = {}) {
  const { signal } = options;
  const problems = [];
  const { source: files } = await openFiles(source, { fetch: options.fetch, cache: false });
  const configBytes = await readSmall(files, 'config.json', signal);
  if (!configBytes) problems.push('config.json is missing');
  const config = configBytes ? parseJson(configBytes, 'config.json', problems) : null;
  const tokBytes = await readSmall(files, 'tokenizer.model', signal);
  const tokenizer = tokBytes ? { bytes: tokBytes.length } : null;
  if (!tokBytes) problems.push('tokenizer.model is missing: text prompts will not work (token ids still do)');
  if (tokBytes && options.tokenizer) {
    try {
      tokenizer.pieces = options.tokenizer(tokBytes).vocabSize; // checked against the config by the engine
    } catch (err) {
      problems.push(`tokenizer.model: ${err.message}`);
    }
  }
  const report = { source: String(source), config, hparams: null, files: [], tensors: [], parameters: 0, bytes: 0, tokenizer, problems };
  const headerTensors = []; // as the safetensors header gives them, for the engine's checks
  for (const file of await shardList(files, signal, problems)) {
    try {
      const { header, size } = await readHeader(files, file, signal);
      report.files.push({ file, size });
      const covered = header.dataStart + header.dataLength;
      if (size != null && size > covered) problems.push(`${file}: ${size - covered} bytes at the end of the file belong to no tensor`);
      report.bytes += size ?? 0;
      for (const t of header.tensors) {
        const shape = t.quant ? t.quant.shape : t.shape;
        report.tensors.push({ name: t.name, dtype: t.quant ? t.quant.format : t.dtype, shape, bytes: t.byteLength, file, quant: t.quant?.format });
        headerTensors.push({ ...t, file });
        report.parameters += shape.reduce((a, b) => a * b, 1);
      }
    } catch (err) {
      problems.push(err.code === 'E_NOT_FOUND' ? `${file} is missing` : err.message);
    }
  }
  await checkManifest(files, report, signal);
  if (config) await checkWithEngine(config, headerTensors, report);
  return report;
}

async function checkManifest(files, report, signal) {
  const bytes = await readSmall(files, 'manifest.json', signal);
  if (!bytes) return;
  let manifest;
  try {
    manifest = parseManifest(bytes);
  } catch (err) {
    report.problems.push(err.message);
    return;
  }
  for (const [path, entry] of manifest) {
    if (!/^[^/\\]+$/.test(path) || path === '.' || path === '..') {
      report.problems.push(`manifest.json lists ${JSON.stringify(path)}, which is not a file name in the model folder`);
      continue;
    }
    const seen = report.files.find((f) => f.file === path);
    const size = seen ? seen.size : await files.size(path, { signal }).catch(() => null);
    if (size === null) report.problems.push(`manifest.json lists ${path}, which is missing`);
    else if (size !== entry.size) report.problems.push(`${path} is ${size} bytes but manifest.json says ${entry.size}`);
  }
}
