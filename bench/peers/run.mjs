// `make bench-peers`: the runtime side by side with llama.cpp's WebAssembly build (@wllama/wllama)
// and onnxruntime-web (its wasm backend, what transformers.js runs), single-threaded, in headless
// Chromium, on the released 110M shape (5 layers, D 896, 14 heads, vocabulary 32000; the peers' FFN
// 2400 = 2389 rounded up to whole 32-blocks) with random weights, in f32, 8-bit and 4-bit:
// prefill of 128 tokens, decode at 16 and 256 positions, load time, bytes shipped (everything the
// page fetched: model, wasm, JavaScript), peak memory (the renderer's peak RSS) and our ratio to the
// faster peer. A fresh browser per engine and format. Model files are made once under bench/out/peers
// (tools/testkit/synthetic.mjs + tools/convert for ours, tools/gguf-write.mjs, tools/onnx-write.mjs).
// Writes bench/peers/results.json and its section of bench/results.md (kept by make bench).
//   node bench/peers/run.mjs [--quick] [--formats f32,q8,q4] [--engines ours,wllama,ort] | --render
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RELEASE, writeSyntheticFolder } from '../../tools/testkit/synthetic.mjs';
import { writeGguf } from '../../tools/gguf-write.mjs';
import { writeOnnx } from '../../tools/onnx-write.mjs';
import { startServer } from '../../tools/serve.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, 'bench/out/peers');
const arg = (name, fallback) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback; };
const QUICK = process.argv.includes('--quick');
const FORMATS = arg('--formats', 'f32,q8,q4').split(',');
const ENGINES = arg('--engines', 'ours,wllama,ort').split(',');
const PREFILL = 128, CTX = [16, 256], STEPS = QUICK ? 6 : 16, THREADS = 1;
const log = (m) => process.stderr.write(`[bench-peers] ${m}\n`);
const GGUF_TYPE = { f32: 'f32', q8: 'q8_0', q4: 'q4_0' };

/** Our model folders (f32, and q8/q4 converted), made once. */
export function prepareOurs() {
  mkdirSync(OUT, { recursive: true });
  const f32 = join(OUT, 'pldr-f32');
  if (!existsSync(join(f32, 'model.safetensors'))) {
    log('writing the 110M-shape PLDR-LLM folder (random weights, F32)');
    writeSyntheticFolder(f32, RELEASE, join(ROOT, 'models/pldr-tiny/tokenizer.model'));
  }
  for (const q of ['q8', 'q4']) {
    const dir = join(OUT, `pldr-${q}`);
    if (existsSync(join(dir, 'manifest.json'))) continue;
    log(`converting it to ${q} (tools/convert)`);
    const r = spawnSync(join(ROOT, 'tools/convert'), [f32, dir, '--dtype', q, '--quiet', '--force'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tools/convert ${q}: ${r.stderr}`);
  }
}

/** All the model files, made once. */
function prepare() {
  prepareOurs();
  for (const q of FORMATS) {
    const gguf = join(OUT, `llama-${GGUF_TYPE[q]}.gguf`), onnx = join(OUT, `llama-${q}.onnx`);
    if (!existsSync(gguf)) { log(`writing ${gguf}`); writeGguf(gguf, { type: GGUF_TYPE[q] }); }
    if (!existsSync(onnx)) { log(`writing ${onnx}`); writeOnnx(onnx, { type: q }); }
  }
}

/** Peak resident memory (VmHWM) of the browser's renderer processes, in bytes. */
function rendererPeak(browserPid) {
  let peak = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      if (!isDescendant(ppid, browserPid)) continue;
      peak += 1024 * Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return peak;
}
function isDescendant(pid, ancestor) {
  for (let i = 0; pid > 1 && i < 16; i++) {
    if (pid === ancestor) return true;
    try { pid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]); } catch { return false; }
  }
  return pid === ancestor;
}

/** One engine on one format in a fresh Chromium. */
async function measure(server, engine, q) {
  const { chromium } = await import('playwright-core');
  const server$ = await chromium.launchServer({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'] });
  const browser = await chromium.connect(server$.wsEndpoint());
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(m.text()));
    await page.goto(`${server.url}tools/testkit/blank.html`);
    const from = server.requests.length;
    const common = { prefill: PREFILL, ctx: CTX, steps: STEPS, threads: THREADS };
    const fn = { ours: 'benchOurs', wllama: 'benchWllama', ort: 'benchOrt' }[engine];
    const opts = engine === 'ours' ? { ...common, modelUrl: `/bench/out/peers/pldr-${q}/`, quant: q === 'f32' ? 'f32' : q }
      : engine === 'wllama' ? { ...common, modelUrl: `/bench/out/peers/llama-${GGUF_TYPE[q]}.gguf`, V: RELEASE.V }
        : { ...common, modelUrl: `/bench/out/peers/llama-${q}.onnx`, L: RELEASE.L, H: RELEASE.H, dk: RELEASE.D / RELEASE.H, V: RELEASE.V };
    page.setDefaultTimeout(900_000);
    const r = await page.evaluate(async ([f, o]) => (await import('/bench/peers/page.js'))[f](o), [fn, opts])
      .catch((err) => { throw new Error(`${engine} ${q}: ${err.message}\n${logs.slice(-20).join('\n')}`); });
    r.bytes_shipped = server.requests.slice(from).reduce((n, x) => n + (x.bytes ?? 0), 0);
    r.peak_rss = rendererPeak(server$.process().pid);
    r.browser = `Chromium ${browser.version()}`;
    return r;
  } finally {
    await browser.close();
    await server$.close();
  }
}

const f0 = (x) => (x == null ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const mib = (x) => (x / 2 ** 20).toFixed(0);

/** The Markdown section: one row per format and engine, ours against the faster peer. */
function markdown(res) {
  const L = ['## Peers: llama.cpp (wllama) and onnxruntime-web, side by side in Chromium', '',
    `\`make bench-peers\` on ${res.date.slice(0, 10)}, ${res.browser}, ${res.cores} cores (load average ${res.load_average?.toFixed(1) ?? '?'} at the start: other work on the machine slows every engine alike), single thread. The released 110M shape `
    + '(L 5, D 896, 14 heads, vocabulary 32000) with random weights: ours a PLDR-LLM (LayerNorm, biases, G between q and k), the peers a llama model '
    + 'of the same dimensions (RMSNorm, no biases; FFN 2400 = 2389 rounded up to whole blocks of 32). 8-bit: our q8_0, llama.cpp Q8_0, onnxruntime '
    + 'DynamicQuantizeLinear + MatMulInteger (transformers.js "quantized"); 4-bit: q4_0, Q4_0, MatMulNBits (transformers.js "q4"). '
    + 'Tokens per second; load = fetch and ready; shipped = every byte the page fetched; memory = the renderer\'s peak RSS. ratio = ours / the faster peer.', '',
    '| format | engine | prefill 128 | decode @16 | decode @256 | load s | shipped MiB | peak memory MiB |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const q of FORMATS) {
    const rows = res.formats[q] ?? {};
    for (const e of ENGINES) {
      const r = rows[e];
      if (!r) continue;
      if (r.error) { L.push(`| ${q} | ${e} | failed: ${r.error.split('\n')[0].slice(0, 120)} | | | | | |`); continue; }
      const d = (c) => r.decode.find((x) => x.ctx === c)?.tok_s;
      L.push(`| ${q} | ${e}${e === 'ours' ? ` (${r.variant})` : ''} | ${f0(r.prefill_tok_s)} | ${f0(d(16))} | ${f0(d(256))} | ${(r.load_ms / 1e3).toFixed(1)} | ${mib(r.bytes_shipped)} | ${mib(r.peak_rss)} |`);
    }
    const peers = ENGINES.filter((e) => e !== 'ours' && rows[e] && !rows[e].error).map((e) => rows[e]);
    const o = rows.ours;
    if (o && !o.error && peers.length) {
      const ratio = (get) => get(o) / Math.max(...peers.map(get));
      const dec = (c) => (r) => r.decode.find((x) => x.ctx === c)?.tok_s;
      L.push(`| ${q} | **ratio** | ${ratio((r) => r.prefill_tok_s).toFixed(2)} | ${ratio(dec(16)).toFixed(2)} | ${ratio(dec(256)).toFixed(2)} | | | |`);
    }
  }
  return `${L.join('\n')}\n`;
}

export const PEERS_START = '<!-- peers:start (written by make bench-peers) -->', PEERS_END = '<!-- peers:end -->';
const START = PEERS_START, END = PEERS_END;

/** Puts the section into bench/results.md between its markers (appended the first time). */
export function writePeersSection(md) {
  const file = join(ROOT, 'bench/results.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = text.indexOf(START), b = text.indexOf(END);
  const block = `${START}\n${md}${END}\n`;
  writeFileSync(file, a >= 0 && b > a ? `${text.slice(0, a)}${block}${text.slice(b + END.length + 1)}` : `${text}\n${block}`);
}

async function main() {
  prepare();
  const server = await startServer({ root: ROOT });
  const os = await import('node:os');
  const res = { date: new Date().toISOString(), cores: os.cpus().length, load_average: os.loadavg()[0], threads: THREADS, formats: {} };
  try {
    for (const q of FORMATS) {
      res.formats[q] = {};
      for (const e of ENGINES) {
        log(`${e} ${q}`);
        try {
          res.formats[q][e] = await measure(server, e, q);
          res.browser ??= res.formats[q][e].browser;
          log(`  ${JSON.stringify(res.formats[q][e])}`);
        } catch (err) {
          res.formats[q][e] = { error: err.message };
          log(`  failed: ${err.message}`);
        }
      }
    }
  } finally {
    await server.close();
  }
  res.browser ??= 'Chromium';
  writeFileSync(join(ROOT, 'bench/peers/results.json'), `${JSON.stringify(res, null, 1)}\n`);
  writePeersSection(markdown(res));
  log('wrote bench/peers/results.json and the peers section of bench/results.md');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--render')) writePeersSection(markdown(JSON.parse(readFileSync(join(ROOT, 'bench/peers/results.json'), 'utf8'))));
  else await main();
}
