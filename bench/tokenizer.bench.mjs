// Encode/decode throughput of js/tokenizer/tokenizer.js on English text: the texts of cases.json joined and
// repeated to about 2 MB. Not a test. Usage: node bench/tokenizer.bench.mjs [pldr-32k|pldr-tiny] [MB]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SentencePieceTokenizer } from '../js/tokenizer/tokenizer.js';

const name = process.argv[2] ?? 'pldr-32k';
const targetMB = Number(process.argv[3] ?? 2);
const dir = fileURLToPath(new URL(`../tests/fixtures/tokenizers/${name}/`, import.meta.url));

const modelBytes = readFileSync(`${dir}tokenizer.model`);
let t0 = performance.now();
const tok = SentencePieceTokenizer.fromBytes(modelBytes);
const loadMs = performance.now() - t0;

const { cases } = JSON.parse(readFileSync(`${dir}cases.json`, 'utf8'));
const english = cases.filter((c) => c.kind !== 'edge').map((c) => c.text).join('\n');
const unit = Buffer.byteLength(english);
const text = english.repeat(Math.max(1, Math.round((targetMB * 1e6) / unit)));
const bytes = Buffer.byteLength(text);

/** best of `runs` timings of fn, in ms */
function best(fn, runs) {
  let min = Infinity, out;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    out = fn();
    min = Math.min(min, performance.now() - start);
  }
  return { ms: min, out };
}

tok.encode(english); // warm up
const enc = best(() => tok.encode(text), 5);
const lines = text.split('\n');
const encLines = best(() => lines.map((l) => tok.encode(l)), 3);
const dec = best(() => tok.decode(enc.out), 5);

const mbps = (ms) => bytes / 1e6 / (ms / 1000);
console.log(`${name}: load ${loadMs.toFixed(1)} ms; ${(bytes / 1e6).toFixed(2)} MB of text, ${enc.out.length} tokens`);
console.log(`encode (one string)   ${mbps(enc.ms).toFixed(2)} MB/s  (${(enc.out.length / (enc.ms / 1000) / 1e6).toFixed(2)} M tokens/s)`);
console.log(`encode (line by line) ${mbps(encLines.ms).toFixed(2)} MB/s  (${lines.length} lines)`);
console.log(`decode                ${mbps(dec.ms).toFixed(2)} MB/s of text`);
console.log(JSON.stringify({
  bench: 'tokenizer', tokenizer: name, node: process.version, loadMs: +loadMs.toFixed(1), bytes, tokens: enc.out.length,
  encodeMBps: +mbps(enc.ms).toFixed(2), encodeLinesMBps: +mbps(encLines.ms).toFixed(2), decodeMBps: +mbps(dec.ms).toFixed(2),
}));
