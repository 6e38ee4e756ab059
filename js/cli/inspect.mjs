// pldr inspect DIR|URL: what a model folder holds and what is wrong with it, without loading it.
import { inspectModel } from '../loading/inspect.js';
import { PldrError } from '../errors.js';
import { formatBytes } from '../ui/stats-text.js';
import { parseCommandLine } from './options.mjs';

export const help = `usage: pldr inspect DIR|URL [--json]

Lists the tensors of a model folder (Hugging Face layout) with dtypes, shapes and sizes, the
parameter count, what config.json says, and every problem found (missing or unexpected tensors,
wrong shapes, unknown dtypes, manifest mismatches, tokenizer/config disagreement). Only headers are
read. Exit code 0 when no problem was found, 1 otherwise.
  --json                 print the report as JSON
`;

/**
 * What config.json says, as the runtime read it (report.hparams: Hugging Face names, whichever
 * names the file used), or nothing when the runtime could not read it.
 * @param {Record<string, number>|null} hp @param {Record<string, any>|null} config
 */
function summary(hp, config) {
  if (!hp) return [];
  const get = (key) => hp[key] ?? '?';
  return [
    ['layers', get('num_hidden_layers')], ['hidden size', get('hidden_size')],
    ['heads', get('num_attention_heads')], ['FFN width', get('intermediate_size')],
    ['A-net', `${get('num_reslayerA')} blocks × ${get('num_denseA')} GLUs of ${get('A_dff')}`],
    ['vocabulary', get('vocab_size')], ['context', get('max_position_embeddings')],
    ['RoPE', hp.reference_rope === 0 ? 'rotate-half (v52)' : 'interleaved (v51)'],
    ['predefined G', config?.custom_G_type ?? 'no (learned by the A-net)'],
  ];
}

/** @param {string[]} argv */
export async function run(argv) {
  const { values, positionals } = parseCommandLine(argv, { json: { type: 'boolean', default: false } }, { allowPositionals: true });
  if (positionals.length !== 1) throw new PldrError('E_OPTION', 'give one model folder (DIR or URL); see --help');
  const { SentencePieceTokenizer } = await import('../tokenizer/tokenizer.js');
  const report = await inspectModel(positionals[0], { tokenizer: (b) => SentencePieceTokenizer.fromBytes(b) });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
    return report.problems.length ? 1 : 0;
  }
  const out = [`${report.source}`];
  for (const [k, v] of summary(report.hparams, report.config)) out.push(`  ${k.padEnd(14)} ${v}`);
  out.push(`  tokenizer      ${report.tokenizer ? `${report.tokenizer.pieces ?? '?'} pieces` : 'missing'}`);
  out.push(`  parameters     ${report.parameters.toLocaleString('en-US')}`);
  out.push(`  files          ${report.files.length} shard(s), ${formatBytes(report.bytes)}`);
  out.push('', 'tensors:');
  for (const t of report.tensors) {
    out.push(`  ${t.name.padEnd(64)} ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]`.padEnd(100) + ` ${formatBytes(t.bytes).padStart(8)}  ${t.file}`);
  }
  out.push('', report.problems.length ? `${report.problems.length} problem(s):` : 'no problems found');
  for (const p of report.problems) out.push(`  - ${p}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return report.problems.length ? 1 : 0;
}
