// pldr invariance: the paper's claim, measured — for each prompt, G_LM computed by the A-net from
// that prompt against G_LM of the empty prompt [END] (js/generation/deductive.js: rmse and
// rel_rmse per layer, slogdet and the top singular value's energy share per head).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PLDR } from '../pldr.js';
import { PldrError } from '../errors.js';
import { progressBar } from './progress.mjs';
import { MODEL_HELP, MODEL_OPTIONS, loadOptions, parseIds } from './options.mjs';

export const help = `usage: pldr invariance (--prompt TEXT | --ids 12,345,6 | --prompts FILE) [options]

For each prompt, G_LM computed by the A-net from that prompt is compared with G_LM of the empty
prompt [END] (G-cache mode "empty"), in float64:
  rmse       per layer: sqrt(mean((G_l - G_empty,l)^2)) over all heads and entries
  rel_rmse   per layer: rmse / sqrt(mean(G_empty,l^2))
  slogdet    per layer and head: [sign, log|det|] of the dk x dk matrix G_l,h (LU, partial pivoting)
  energy     per layer and head: the top singular value's share of the energy, s1^2 / sum s_i^2
             (1 for a rank-1 head)

  --prompt TEXT          one prompt (tokenized without BOS/EOS; "" is the empty prompt [END])
  --ids LIST             one prompt as comma-separated token ids
  --prompts FILE         several: one prompt per line (blank lines skipped), or a JSON array of
                         strings and id arrays
  --json                 print {"prompts": [{"ids", "layers": [{"rmse", "rel_rmse", "heads":
                         [{"slogdet": [s, v], "energy_share"}]}]}], "reference": {"ids", "layers":
                         [{"heads": [...]}]}} (a log|det| of -Infinity is null)

${MODEL_HELP}`;

/** @param {string} file @returns {({ids: number[]}|string)[]} */
function readPrompts(file) {
  const text = readFileSync(file, 'utf8');
  if (/^\s*\[/.test(text)) {
    let list;
    try {
      list = JSON.parse(text);
    } catch (err) {
      throw new PldrError('E_OPTION', `--prompts ${file}: not valid JSON (${err.message})`);
    }
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string' || (Array.isArray(p) && p.every(Number.isInteger)))) {
      throw new PldrError('E_OPTION', `--prompts ${file}: expected a JSON array of strings and arrays of token ids`);
    }
    return list.map((p) => (typeof p === 'string' ? p : { ids: p }));
  }
  return text.split(/\r?\n/).filter((line) => line.trim() !== '');
}

const finite = (v) => (Number.isFinite(v) ? v : null);
const headJson = (h) => ({ slogdet: [finite(h.slogdet[0]), finite(h.slogdet[1])], energy_share: finite(h.energy_share) });

/** @param {import('../generation/engine.js').DeductiveReport} d @param {string} label */
function printText(d, label) {
  const lines = [`${label} (${d.ids.length} token${d.ids.length === 1 ? '' : 's'}) vs the empty prompt [END]`];
  lines.push('  layer  rmse         rel_rmse    per head: log|det| (sign), s1^2/sum s^2');
  d.layers.forEach((l, i) => {
    const heads = l.heads.map((h) => `${h.slogdet[1].toFixed(3)}(${h.slogdet[0] > 0 ? '+' : h.slogdet[0] < 0 ? '-' : '0'}) ${h.energy_share.toFixed(3)}`);
    lines.push(`  ${String(i).padEnd(6)} ${l.rmse.toExponential(4).padEnd(12)} ${l.rel_rmse.toFixed(6).padEnd(11)} ${heads.join('  ')}`);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** @param {string[]} argv */
export async function run(argv) {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: { prompt: { type: 'string' }, ids: { type: 'string' }, prompts: { type: 'string' }, json: { type: 'boolean', default: false }, ...MODEL_OPTIONS },
  });
  const given = ['prompt', 'ids', 'prompts'].filter((k) => values[k] !== undefined);
  if (given.length !== 1) throw new PldrError('E_OPTION', 'give exactly one of --prompt TEXT, --ids LIST or --prompts FILE (see --help)');
  const prompts = values.prompts !== undefined ? readPrompts(values.prompts)
    : values.ids !== undefined ? [{ ids: parseIds(values.ids) }] : [values.prompt];
  if (prompts.length === 0) throw new PldrError('E_OPTION', `--prompts ${values.prompts}: no prompts in the file`);
  const engine = await PLDR.load(values.model, { ...loadOptions(values), onProgress: values['no-progress'] ? undefined : progressBar() });
  try {
    if (engine.model.hparam('custom_G_type') > 0) {
      throw new PldrError('E_GCACHE', 'this is a G-only model (custom_G_type): it has no A-net, so its G is the same for every prompt');
    }
    const reports = prompts.map((p) => engine.deductive(typeof p === 'string' ? { prompt: p } : p));
    if (values.json) {
      const out = {
        prompts: reports.map((d) => ({ ids: d.ids, layers: d.layers.map((l) => ({ rmse: l.rmse, rel_rmse: l.rel_rmse, heads: l.heads.map(headJson) })) })),
        reference: { ids: reports[0].referenceIds, layers: reports[0].reference.map((l) => ({ heads: l.heads.map(headJson) })) },
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      reports.forEach((d, i) => printText(d, typeof prompts[i] === 'string' ? JSON.stringify(prompts[i]) : `ids [${d.ids.join(',')}]`));
    }
    return 0;
  } finally {
    engine.free();
  }
}
