// What went wrong, in plain words for people: the page, <pldr-chat> and the terminal show the
// title and hint; the error's own message (which names the file) is the detail. Codes are
// js/errors.js's ERROR_CODES (docs/ERRORS.md).

const DAMAGED = new Set(['E_CHECKSUM', 'E_TRUNCATED', 'E_HEADER_SIZE', 'E_HEADER_JSON', 'E_OFFSETS', 'E_OVERLAP',
  'E_SHAPE', 'E_DTYPE', 'E_QUANT', 'E_TENSOR_MISSING', 'E_TENSOR_SHARD', 'E_SIZE']);
const OUT_OF_MEMORY = /out of (\w+ )?memory|Array buffer allocation failed|Maximum memory size/i;

/**
 * What went wrong, in plain words: a title, what happened (the error's own message, which names
 * the file), and what to try.
 * @param {unknown} error
 * @returns {{title: string, detail: string, hint: string, code: string}}
 */
export function explainError(error) {
  const e = /** @type {any} */ (error ?? {});
  const code = typeof e.code === 'string' && e.code.startsWith('E_') ? e.code
    : e.name === 'CompileError' || e.name === 'LinkError' ? 'E_WASM' : 'E_INTERNAL';
  const detail = String(e.message ?? e);
  const file = e.file ? baseName(e.file) : null;
  const say = (title, hint = '') => ({ title, detail, hint, code });
  if (code === 'E_OUT_OF_MEMORY' || e.cause?.code === 'E_OUT_OF_MEMORY' || OUT_OF_MEMORY.test(detail)) {
    return { ...say('Not enough memory for this model in this browser tab.',
      'Try a smaller weight format (q8 is 4× smaller than f32, q4 about 7×), a smaller model, or close other tabs.'), code: 'E_OUT_OF_MEMORY' };
  }
  if (e.name === 'AbortError' || code === 'E_ABORTED') return say('Stopped.');
  if (DAMAGED.has(code)) {
    return say(`The model file ${file ?? ''} is damaged or incomplete.`.replace('  ', ' '),
      'Download or convert the model again. A damaged copy is never kept in the browser cache, so loading again fetches it afresh.');
  }
  switch (code) {
    case 'E_SOURCE': return say('That is not a model address.',
      'Enter the URL of a folder in Hugging Face layout: it holds config.json, tokenizer.model and model.safetensors (or model.safetensors.index.json and its shards).');
    case 'E_NOT_FOUND': return say(file === 'config.json' || !file ? 'No model found at that address.' : `The model folder has no ${file}.`,
      'Check the URL: it should point at the folder that holds config.json and the .safetensors files (on Hugging Face, the model\'s page https://huggingface.co/org/name works too).');
    case 'E_HTTP': return say(`The server refused to send ${file ?? 'the model'}${e.status ? ` (HTTP ${e.status})` : ''}.`,
      'The model may be private or gated, or the address is wrong.');
    case 'E_NETWORK': return say('The model could not be downloaded: the network failed.',
      'Check the connection. A model on another site must allow cross-origin requests (CORS); Hugging Face does.');
    case 'E_CHANGED': return say('The model changed on the server during the download.', 'Load it again.');
    case 'E_RANGE': return say('The server could not resume the download.', 'Load it again.');
    case 'E_TOO_LARGE': return say(`${file ?? 'A file of the model folder'} is far larger than such a file can be.`,
      'The address may serve something other than a model folder.');
    case 'E_CONFIG': case 'E_INDEX': case 'E_MANIFEST': return say(`The model folder's ${file ?? 'description'} is not valid.`,
      'It is not a PLDR-LLM folder, or the file is damaged.');
    case 'E_SINK': return say('This model does not fit this runtime.', 'Is it a PLDR-LLM checkpoint? tools/convert turns released checkpoints into loadable folders.');
    case 'E_READ': return say(`Reading ${file ?? 'the model'} failed.`, 'Load it again.');
    case 'E_WASM': return say('The WebAssembly engine could not start.',
      'This page needs a browser with WebAssembly SIMD: Chrome or Edge 91+, Firefox 89+, Safari 16.4+.');
    case 'E_WORKER': return say('The engine could not start in a Web Worker.', 'This page needs module workers (Chrome 80+, Firefox 114+, Safari 15+).');
    case 'E_TOKENIZER': return say('This model folder has no tokenizer.model, so it cannot read or write text.');
    case 'E_TOKENIZER_FORMAT': case 'E_TOKENIZER_UNSUPPORTED': return say('The model\'s tokenizer.model cannot be read.',
      'It is damaged, or not a SentencePiece unigram model. Download or convert the model again.');
    case 'E_OPTION': return say('A setting is not valid.', 'Check the values under Settings.');
    case 'E_CONTEXT': return say('The text does not fit in the model\'s context window.', 'Start a new conversation or send a shorter message.');
    case 'E_NO_MODEL': return say('No model is loaded yet.', 'Load a model first.');
    case 'E_BUSY': return say('The model is still busy.', 'Wait for the answer to finish or press Stop.');
    default: return say('Something went wrong.', '');
  }
}

function baseName(path) {
  return String(path).split(/[/\\]/).filter(Boolean).pop() ?? String(path);
}
