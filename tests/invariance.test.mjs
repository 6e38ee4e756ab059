// The deductive outputs (spec §6): `pldr invariance`, engine.deductive() and the figures of
// js/generation/deductive.js, against the reference's own figures (golden.json → invariance) and,
// on prompts the golden file does not hold, against G computed by the float64 reference
// (tests/helpers/reference.mjs) with the figures recomputed by independent float64 algorithms here
// (Householder QR for the determinant, one-sided Jacobi SVD for the singular values).
//
// How golden.json's figures read (their names and nesting, checked on its own G files below):
//   invariance[case].rmse_vs_G_eos_per_layer[l]      sqrt(mean over heads and entries of (G_case,l − G_eos,l)²)
//   invariance[case].rel_rmse_vs_G_eos_per_layer[l]  that / sqrt(mean(G_eos,l²))
//   invariance[case].slogdet_layer0[h]               [sign, log|det|] of G_case at layer 0, head h
// G_eos is G of the empty prompt [END] (golden.G_eos, equal to case "empty").
//
// Tolerances. G itself: the reference's float32 run lands ref32_vs_64_maxabs_G from its float64 G;
// like tests/golden.test.mjs we allow TOL_FACTOR = 4 times that per entry. The figures are then
// checked to the precision the G they come from allows: with ΔG the engine's G minus the
// reference's (measured here, per entry),
//   rmse      |Δ| ≤ rms(ΔG_prompt,l) + rms(ΔG_eos,l)   (the RMS of a difference, triangle inequality)
//   rel_rmse  |Δ| ≤ (Δrmse + rel·rms(ΔG_eos,l)) / (rms(G_eos,l) − rms(ΔG_eos,l))
//   log|det|  |Δ| ≤ 2 · Σ_ij |(G⁻¹)_ji| · |ΔG_ij|   (first order: Δ log|det| = tr(G⁻¹ ΔG); 2× for the
//                                                    higher orders, small while this is ≪ 1)
//   sign      equal while that bound is < 1 (|det| cannot cross 0)
//   energy    σ1 and ‖G‖_F move by at most e = ‖ΔG‖_F: the share stays in
//             [(σ1 − e)² / (F + e)², (σ1 + e)² / (F − e)²]
// For prompts outside the golden file the largest ref32_vs_64_maxabs_G of the golden cases stands
// in for their own (pldr-tiny, the same model and sizes of prompt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLDR } from '../js/pldr.js';
import { deductiveFigures, energyShare, gOnlySaving, slogdet } from '../js/generation/deductive.js';
import { loadModel } from '../js/loading/loader.js';
import { ROOT } from './helpers/engines.mjs';
import { bytesToF32, readF32 } from './helpers/files.mjs';
import { maxAbs } from './helpers/numeric.mjs';
import { flattenG, referenceForward } from './helpers/reference.mjs';

const TOL_FACTOR = 4;
const TINY = join(ROOT, 'models/pldr-tiny');
const GOLD = join(ROOT, 'tests/fixtures/golden/pldr-tiny');
const golden = JSON.parse(readFileSync(join(GOLD, 'golden.json'), 'utf8'));
const SHAPE = { layers: 5, heads: 4, dk: 64 };
const DK2 = 64 * 64;
const tmp = mkdtempSync(join(tmpdir(), 'pldr-invariance-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const gEos = readF32(join(GOLD, golden.G_eos.file));
const caseOf = (name) => golden.cases.find((c) => c.name === name);
const EPS32 = 2 ** -24; // float32 storage of a float64 value: relative rounding

// --- independent float64 algorithms -------------------------------------------------------------

/** [sign, log|det|] by Householder QR: |det| = Π|r_ii|, each reflection flips the sign. */
function slogdetQR(m, n) {
  const a = Float64Array.from(m);
  let sign = 1, log = 0;
  for (let k = 0; k < n; k++) {
    let norm = 0;
    for (let i = k; i < n; i++) norm += a[i * n + k] ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) return [0, -Infinity];
    const alpha = a[k * n + k] > 0 ? -norm : norm;
    const v = new Float64Array(n);
    for (let i = k; i < n; i++) v[i] = a[i * n + k];
    v[k] -= alpha;
    let vv = 0;
    for (let i = k; i < n; i++) vv += v[i] * v[i];
    if (vv > 0) {
      sign = -sign; // H = I − 2vvᵀ/vᵀv has determinant −1
      for (let j = k; j < n; j++) {
        let s = 0;
        for (let i = k; i < n; i++) s += v[i] * a[i * n + j];
        const f = (2 * s) / vv;
        for (let i = k; i < n; i++) a[i * n + j] -= f * v[i];
      }
    }
    const r = a[k * n + k];
    if (r < 0) sign = -sign;
    log += Math.log(Math.abs(r));
  }
  return [sign, log];
}

/** Singular values by one-sided Jacobi (Hestenes) on the columns. */
function singularValues(m, n) {
  const a = Float64Array.from(m);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < n; i++) {
          const x = a[i * n + p], y = a[i * n + q];
          alpha += x * x; beta += y * y; gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < n; i++) {
          const x = a[i * n + p], y = a[i * n + q];
          a[i * n + p] = c * x - s * y;
          a[i * n + q] = s * x + c * y;
        }
      }
    }
    if (off <= 1e-15) break;
  }
  const out = [];
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i * n + j] ** 2;
    out.push(Math.sqrt(s));
  }
  return out.sort((x, y) => y - x);
}

/** Σ_ij |(G⁻¹)_ji| · w_ij by Gauss–Jordan with partial pivoting (w: per-entry perturbation sizes). */
function logdetSensitivity(m, n, w) {
  const a = Float64Array.from(m), inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(a[i * n + k]) > Math.abs(a[p * n + k])) p = i;
    for (const x of [a, inv]) for (let j = 0; j < n; j++) { const t = x[k * n + j]; x[k * n + j] = x[p * n + j]; x[p * n + j] = t; }
    const d = a[k * n + k];
    for (let j = 0; j < n; j++) { a[k * n + j] /= d; inv[k * n + j] /= d; }
    for (let i = 0; i < n; i++) {
      if (i === k) continue;
      const f = a[i * n + k];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) { a[i * n + j] -= f * a[k * n + j]; inv[i * n + j] -= f * inv[k * n + j]; }
    }
  }
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s += Math.abs(inv[j * n + i]) * (typeof w === 'number' ? w : w[i * n + j]);
  return s;
}

const head = (g, l, h) => g.subarray((l * SHAPE.heads + h) * DK2, (l * SHAPE.heads + h + 1) * DK2);
const layer = (g, l) => g.subarray(l * SHAPE.heads * DK2, (l + 1) * SHAPE.heads * DK2);
const rms = (x) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);

/** The rmse / rel_rmse bounds of the header for RMS errors dp (prompt's G, layer l) and de (G_eos). */
function invarianceTol(ref, l, rel, dp, de) {
  const drmse = dp + de;
  return { rmse: drmse, rel: (drmse + rel * de) / (rms(layer(ref, l)) - de) };
}

/** Energy-share interval of head m perturbed by e in Frobenius norm. */
function energyInterval(m, e) {
  const s = singularValues(m, 64), F = Math.sqrt(s.reduce((a, v) => a + v * v, 0));
  return [Math.max(0, s[0] - e) ** 2 / (F + e) ** 2, (s[0] + e) ** 2 / Math.max(F - e, 0) ** 2];
}

const minus = (a, b) => Float64Array.from(a, (v, i) => v - b[i]);
const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

function runCli(args) {
  const r = spawnSync(process.execPath, [join(ROOT, 'js/cli.mjs'), ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// --- the definitions, on the golden files' own G ------------------------------------------------

test('the figures of deductive.js on golden.json\'s own G files reproduce its invariance figures (the definitions)', () => {
  for (const c of golden.cases) {
    const g = readF32(join(GOLD, c.G_LM.file));
    const d = deductiveFigures(g, gEos, SHAPE);
    const inv = golden.invariance[c.name];
    for (let l = 0; l < SHAPE.layers; l++) {
      // float32 storage of both float64 tensors: each entry off by at most EPS32·|value|
      const tol = invarianceTol(gEos, l, inv.rel_rmse_vs_G_eos_per_layer[l], EPS32 * maxAbs(layer(g, l)), EPS32 * maxAbs(layer(gEos, l)));
      assert.ok(Math.abs(d.layers[l].rmse - inv.rmse_vs_G_eos_per_layer[l]) <= tol.rmse, `${c.name} layer ${l} rmse ${d.layers[l].rmse} vs ${inv.rmse_vs_G_eos_per_layer[l]}`);
      assert.ok(Math.abs(d.layers[l].rel_rmse - inv.rel_rmse_vs_G_eos_per_layer[l]) <= tol.rel, `${c.name} layer ${l} rel_rmse`);
    }
    inv.slogdet_layer0.forEach(([sign, logdet], h) => {
      const m = head(g, 0, h);
      const tol = 2 * logdetSensitivity(m, 64, m.map((v) => EPS32 * Math.abs(v)));
      const [s, v] = d.layers[0].heads[h].slogdet;
      assert.equal(s, sign, `${c.name} head ${h} sign`);
      assert.ok(Math.abs(v - logdet) <= tol, `${c.name} head ${h}: log|det| ${v} vs ${logdet} (tolerance ${tol.toExponential(2)})`);
    });
  }
});

test('slogdet and energyShare agree with Householder QR and Jacobi SVD, and with matrices whose answers are known', () => {
  for (const c of golden.cases.slice(0, 3)) {
    const g = readF32(join(GOLD, c.G_LM.file));
    for (let l = 0; l < SHAPE.layers; l++) {
      for (let h = 0; h < SHAPE.heads; h++) {
        const m = head(g, l, h);
        const [s1, v1] = slogdet(m, 64), [s2, v2] = slogdetQR(m, 64);
        assert.equal(s1, s2);
        assert.ok(Math.abs(v1 - v2) <= 1e-9 * Math.abs(v2), `log|det| LU ${v1} vs QR ${v2}`);
        const sv = singularValues(m, 64);
        const share = sv[0] ** 2 / sv.reduce((a, v) => a + v * v, 0);
        // float64 on both sides: they agree to rounding (1e-12) when σ1 is well apart from σ2
        const tol = sv[1] < 0.999 * sv[0] ? 1e-12 : 1e-9;
        assert.ok(Math.abs(energyShare(m, 64) - share) <= tol, `energy share ${energyShare(m, 64)} vs Jacobi ${share} (layer ${l} head ${h})`);
      }
    }
  }
  const n = 4, u = [1, -2, 0.5, 3], v = [2, 1, -1, 0.25];
  const rank1 = Float64Array.from({ length: n * n }, (_, i) => u[Math.floor(i / n)] * v[i % n]);
  assert.ok(Math.abs(energyShare(rank1, n) - 1) < 1e-12, 'a rank-1 matrix holds all its energy in σ1');
  assert.deepEqual(slogdet(rank1, n), [0, -Infinity]);
  const diag = Float64Array.from({ length: 9 }, (_, i) => [3, 0, 0, 0, -2, 0, 0, 0, 1][i]);
  assert.deepEqual(slogdet(diag, 3).map((x) => +x.toFixed(12)), [-1, +Math.log(6).toFixed(12)]);
  assert.ok(Math.abs(energyShare(diag, 3) - 9 / 14) < 1e-12);
  assert.equal(energyShare(new Float64Array(9), 3), 0);
});

// --- the command and the API against the golden figures -----------------------------------------

test('pldr invariance --json reproduces golden.json → invariance within the reference\'s own float32 error', async () => {
  const file = join(tmp, 'golden-prompts.json');
  writeFileSync(file, JSON.stringify(golden.cases.map((c) => c.ids)));
  const r = runCli(['invariance', '--model', TINY, '--prompts', file, '--json', '--no-progress']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out);
  assert.deepEqual(out.reference.ids, [3]);
  // the G the command's figures come from: the same computation through the API
  const engine = await PLDR.load(TINY);
  const mine = engine.deductive({ ids: [3] }).G;
  assert.ok(maxAbsDiff(mine, gEos) <= TOL_FACTOR * caseOf('empty').ref32_vs_64_maxabs_G, 'G of [END]');
  const dEos = minus(mine, gEos);
  golden.cases.forEach((c, i) => {
    const p = out.prompts[i], inv = golden.invariance[c.name];
    const d = engine.deductive({ ids: c.ids });
    assert.deepEqual(p.layers, JSON.parse(JSON.stringify(d.layers)), `${c.name}: the command prints the API's figures`);
    const gold = readF32(join(GOLD, c.G_LM.file));
    assert.ok(maxAbsDiff(d.G, gold) <= TOL_FACTOR * c.ref32_vs_64_maxabs_G, `${c.name}: G within ${TOL_FACTOR}× the reference's float32 error`);
    const dG = minus(d.G, gold);
    assert.deepEqual(p.ids, c.ids);
    assert.equal(p.layers.length, 5);
    for (let l = 0; l < 5; l++) {
      const tol = invarianceTol(gEos, l, inv.rel_rmse_vs_G_eos_per_layer[l], rms(layer(dG, l)), rms(layer(dEos, l)));
      assert.ok(Math.abs(p.layers[l].rmse - inv.rmse_vs_G_eos_per_layer[l]) <= tol.rmse, `${c.name} layer ${l}: rmse ${p.layers[l].rmse} vs ${inv.rmse_vs_G_eos_per_layer[l]} (tolerance ${tol.rmse.toExponential(2)})`);
      assert.ok(Math.abs(p.layers[l].rel_rmse - inv.rel_rmse_vs_G_eos_per_layer[l]) <= tol.rel, `${c.name} layer ${l}: rel_rmse ${p.layers[l].rel_rmse} vs ${inv.rel_rmse_vs_G_eos_per_layer[l]}`);
      assert.equal(p.layers[l].heads.length, 4);
    }
    inv.slogdet_layer0.forEach(([sign, logdet], h) => {
      const tol = 2 * logdetSensitivity(head(gold, 0, h), 64, head(dG, 0, h).map(Math.abs));
      if (tol < 1) assert.equal(p.layers[0].heads[h].slogdet[0], sign, `${c.name} head ${h}: sign`);
      assert.ok(Math.abs(p.layers[0].heads[h].slogdet[1] - logdet) <= tol, `${c.name} head ${h}: log|det| ${p.layers[0].heads[h].slogdet[1]} vs ${logdet} (tolerance ${tol.toExponential(2)})`);
    });
  });
  engine.free();
});

/** pldr-tiny's weights as {shape, data} by name, for the float64 reference. */
async function tinyWeights() {
  const W = new Map();
  await loadModel(TINY, {
    configure() {}, finish() {}, abort() {},
    begin(info) {
      const chunks = [];
      return { write: (b) => chunks.push(b.slice()), end: () => W.set(info.name, { shape: info.shape, data: bytesToF32(Buffer.concat(chunks)) }) };
    },
  });
  return W;
}

test('engine.deductive() on prompts the golden file does not hold: G and every figure against the float64 reference', async () => {
  const engine = await PLDR.load(TINY);
  const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
  const W = await tinyWeights();
  const refEos = flattenG(referenceForward(config, W, [3]).G);
  const delta = TOL_FACTOR * Math.max(...golden.cases.map((c) => c.ref32_vs_64_maxabs_G));
  for (const prompt of ['Deductive outputs, measured in a browser tab.', 'x = [i * i for i in range(10)]']) {
    const d = engine.deductive({ prompt });
    assert.deepEqual(d.ids, engine.encode(prompt));
    assert.deepEqual(d.shape, SHAPE);
    assert.equal(d.gOnly, false);
    assert.ok(d.anetMs > 0);
    const ref = flattenG(referenceForward(config, W, d.ids).G);
    const worst = maxAbsDiff(d.G, ref);
    assert.ok(worst <= delta, `G of "${prompt}" is ${worst.toExponential(2)} from the float64 reference (allowed ${delta.toExponential(2)})`);
    assert.ok(maxAbsDiff(d.referenceG, refEos) <= delta, 'G of [END]');
    const dG = minus(d.G, ref), dEos = minus(d.referenceG, refEos);
    for (let l = 0; l < 5; l++) {
      const diff = layer(ref, l).map((v, i) => v - layer(refEos, l)[i]);
      const rmse = rms(diff), rel = rmse / rms(layer(refEos, l));
      const tol = invarianceTol(refEos, l, rel, rms(layer(dG, l)), rms(layer(dEos, l)));
      assert.ok(Math.abs(d.layers[l].rmse - rmse) <= tol.rmse, `layer ${l}: rmse ${d.layers[l].rmse} vs float64 ${rmse}`);
      assert.ok(Math.abs(d.layers[l].rel_rmse - rel) <= tol.rel, `layer ${l}: rel_rmse ${d.layers[l].rel_rmse} vs float64 ${rel}`);
      for (let h = 0; h < 4; h++) {
        const m = head(ref, l, h), got = d.layers[l].heads[h];
        const [sign, logdet] = slogdetQR(m, 64);
        const tol2 = 2 * logdetSensitivity(m, 64, head(dG, l, h).map(Math.abs));
        if (tol2 < 1) assert.equal(got.slogdet[0], sign, `layer ${l} head ${h}: sign`);
        assert.ok(Math.abs(got.slogdet[1] - logdet) <= tol2, `layer ${l} head ${h}: log|det| ${got.slogdet[1]} vs float64 ${logdet} (tolerance ${tol2.toExponential(2)})`);
        const [lo, hi] = energyInterval(m, Math.sqrt(head(dG, l, h).reduce((a, v) => a + v * v, 0)));
        assert.ok(got.energy_share >= lo && got.energy_share <= hi, `layer ${l} head ${h}: energy share ${got.energy_share} outside [${lo}, ${hi}]`);
      }
    }
    // the figures are those of the G tensors returned: a blog post can recompute them
    const again = deductiveFigures(d.G, d.referenceG, d.shape);
    assert.deepEqual(again.layers, d.layers);
  }
  engine.free();
});

test('engine.deductive() leaves the G-cache, the conversation and the A-net counters alone; it reads the conversation by default', async () => {
  const engine = await PLDR.load(TINY, { gcache: 'first' });
  assert.throws(() => engine.deductive(), (err) => err.code === 'E_OPTION' && /conversation is empty/.test(err.message));
  const reply = await engine.respond([{ role: 'user', content: 'Hello there' }], { maxTokens: 4, temperature: 0 }).result;
  const runs = engine.model.anetRuns, g = engine.gcache.export(), ids = [...engine.conversation.ids], pos = engine.session.position;
  const d = engine.deductive();
  assert.deepEqual(d.ids, ids, 'the conversation by default');
  assert.equal(engine.model.anetRuns, runs);
  assert.deepEqual(engine.gcache.export(), g);
  assert.equal(engine.session.position, pos);
  assert.deepEqual(engine.conversation.ids, ids);
  assert.ok(d.decodeStepMs > 0, 'the decode step of the reply');
  assert.ok(d.gcacheMs > 0);
  // the next turn goes on as if deductive() had not run
  const next = await engine.respond([{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: reply.text }, { role: 'user', content: 'Again' }], { maxTokens: 4, temperature: 0 }).result;
  const fresh = await PLDR.load(TINY, { gcache: 'first' });
  await fresh.respond([{ role: 'user', content: 'Hello there' }], { maxTokens: 4, temperature: 0 }).result;
  const same = await fresh.respond([{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: reply.text }, { role: 'user', content: 'Again' }], { maxTokens: 4, temperature: 0 }).result;
  assert.deepEqual(next.ids, same.ids);
  assert.throws(() => engine.deductive({ ids: [9000] }), (err) => err.code === 'E_TOKEN');
  assert.throws(() => engine.deductive({ ids: new Array(1025).fill(5) }), (err) => err.code === 'E_CONTEXT');
  engine.free();
  fresh.free();
});

test('a G-only model: deductive() reports its one G against itself and the download it saved; invariance says why it has nothing to compare', async () => {
  // pldr-tiny turned G-only with its own G of [END] (as tools/convert --gcache would): config keeps the A-net sizes
  const dir = join(tmp, 'tiny-g-only');
  const r = spawnSync('python3', [join(ROOT, 'tools/convert'), TINY, dir, '--quiet', '--gcache', join(GOLD, golden.G_eos.file)], { encoding: 'utf8' });
  if (r.status !== 0 && /python3/.test(r.error?.message ?? '')) return;
  assert.equal(r.status, 0, r.stderr);
  const engine = await PLDR.load(dir);
  const d = engine.deductive({ prompt: 'Any prompt at all' });
  assert.equal(d.gOnly, true);
  assert.equal(d.anetMs, null);
  assert.deepEqual(d.G, gEos);
  assert.ok(d.layers.every((l) => l.rmse === 0 && l.rel_rmse === 0));
  const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
  const anet = gOnlySaving(config);
  // 5 layers × (5 PLGA cubes of 4×64×64 + LN 2×64 + 8 blocks × (2 GLUs × (2·(170·64+170) + 64·170 + 64) + 2·64))
  assert.equal(anet.anetParameters, 5 * (5 * 4 * 64 * 64 + 128 + 8 * (2 * (2 * (170 * 64 + 170) + 64 * 170 + 64) + 128)));
  assert.deepEqual(d.saving, anet);
  assert.equal(anet.gBytes, 5 * 3 * 4 * 64 * 64 * 4);
  engine.free();
  const cli = runCli(['invariance', '--model', dir, '--prompt', 'hi', '--no-progress']);
  assert.equal(cli.code, 1);
  assert.match(cli.err, /G-only model/);
});

test('pldr invariance: prompts from a file of lines, the empty prompt, and option errors', () => {
  const file = join(tmp, 'lines.txt');
  writeFileSync(file, 'The Python language is\n\nA list comprehension\n');
  const r = runCli(['invariance', '--model', TINY, '--prompts', file, '--json', '--no-progress']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out);
  assert.deepEqual(out.prompts.map((p) => p.ids), [caseOf('python').ids, caseOf('listcomp').ids]);
  const empty = JSON.parse(runCli(['invariance', '--model', TINY, '--prompt', '', '--json', '--no-progress']).out);
  assert.ok(empty.prompts[0].layers.every((l) => l.rmse === 0 && l.rel_rmse === 0), 'G of [END] against itself');
  const text = runCli(['invariance', '--model', TINY, '--ids', '1155,275,2191', '--no-progress']);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /ids \[1155,275,2191\] \(3 tokens\) vs the empty prompt \[END\]/);
  assert.equal(text.out.trim().split('\n').length, 2 + 5);
  for (const args of [[], ['--prompt', 'a', '--ids', '1'], ['--ids', '1,x']]) {
    const bad = runCli(['invariance', '--model', TINY, ...args]);
    assert.equal(bad.code, 1, args.join(' '));
    assert.match(bad.err, /--prompt|--ids/);
  }
});
