// Error types shared by every module, and the one list of error codes (docs/ERRORS.md is checked
// against it by tests/errors.test.mjs). Every error the runtime throws on purpose is a PldrError
// whose `code` is one of ERROR_CODES; an EngineError also keeps the C status it came from.

/** Every error code, with what it means. */
export const ERROR_CODES = Object.freeze({
  // options and calls
  E_OPTION: 'an option or argument is invalid; the message names it and what is allowed',
  E_BUSY: 'a generation is already running on this engine',
  E_STATE: 'a call out of order (e.g. a generation read twice, a tensor uploaded twice)',
  E_ABORTED: 'an AbortSignal fired (a load or a request was stopped)',
  E_CONTEXT: 'the tokens cannot fit the context window',
  E_TOKEN: 'a token id outside the vocabulary',
  E_NO_MODEL: 'no model is loaded yet',
  // the model folder and its files
  E_SOURCE: 'not a model address (URL or folder path)',
  E_NOT_FOUND: 'a file of the model folder does not exist',
  E_HTTP: 'the server refused a request (HTTP status in `status`)',
  E_NETWORK: 'the network failed during a download',
  E_RANGE: 'a download could not be resumed as asked (the server refused the range or answered another)',
  E_CHANGED: 'a file changed on the server while it was read; nothing of two versions is mixed: load again',
  E_TOO_LARGE: 'config.json, tokenizer.model, the index or manifest.json is larger than its limit',
  E_READ: 'reading a file failed for another reason (the message says which and why)',
  E_CONFIG: 'config.json is not valid, or its hyperparameters are unsupported',
  E_INDEX: 'model.safetensors.index.json is not valid',
  E_MANIFEST: 'manifest.json is not valid',
  E_CHECKSUM: 'a file does not match the sha256 in manifest.json',
  E_SIZE: 'a file is not the size its manifest, the server or the cached copy says',
  E_TRUNCATED: 'a file ends before its data does',
  E_HEADER_SIZE: 'a safetensors header length is impossible (too large, or past the end of the file)',
  E_HEADER_JSON: 'a safetensors header is not valid JSON',
  E_OFFSETS: 'safetensors data offsets are wrong (gaps, out of the file, backwards)',
  E_OVERLAP: 'two tensors of a shard share bytes',
  E_SHAPE: 'a tensor shape disagrees with its data or with the config',
  E_DTYPE: 'a tensor dtype the runtime cannot read',
  E_QUANT: 'the quantization metadata of a tensor is invalid',
  E_TENSOR_MISSING: 'a tensor the model needs is in no shard',
  E_TENSOR_SHARD: 'the index maps a tensor to a shard that does not hold it',
  E_TENSOR_UNKNOWN: 'a tensor name this model does not have',
  E_SINK: 'the engine rejected what the loader read (`cause` says why; file and tensor named)',
  // the tokenizer
  E_TOKENIZER: 'the model folder has no tokenizer.model',
  E_TOKENIZER_FORMAT: 'tokenizer.model is not a valid SentencePiece model',
  E_TOKENIZER_UNSUPPORTED: 'a SentencePiece model of a kind the tokenizer does not implement',
  E_TOKENIZER_INPUT: 'text to encode is not a string or bytes',
  E_TOKENIZER_ID: 'an id to decode is outside the vocabulary',
  // the engine
  E_OUT_OF_MEMORY: 'WebAssembly (or the browser tab) ran out of memory',
  E_GCACHE: 'the G-cache is unavailable or of the wrong size for the mode',
  E_SESSION_STATE: 'a saved session state is damaged, of another format, or made for another model or G_LM',
  E_WASM: 'the WebAssembly module could not be fetched, compiled or started',
  E_ENGINE: 'the C library returned a status this JavaScript does not know',
  // the Web Worker
  E_WORKER: 'the engine could not start in a Web Worker, or the worker died',
  E_MESSAGE: 'the engine worker received a request it does not know',
  // the chat page
  E_STORAGE: 'the browser keeps no storage here (IndexedDB, Cache API), or it refused a write',
  E_INTERNAL: 'an unexpected failure (a bug): the message says where',
});

/** The C library's status names (include/pldr.h) and the code each becomes in JavaScript. */
export const STATUS_CODES = Object.freeze({
  PLDR_ERR_INVALID_ARGUMENT: 'E_OPTION',
  PLDR_ERR_OUT_OF_MEMORY: 'E_OUT_OF_MEMORY',
  PLDR_ERR_BAD_CONFIG: 'E_CONFIG',
  PLDR_ERR_UNKNOWN_TENSOR: 'E_TENSOR_UNKNOWN',
  PLDR_ERR_SHAPE: 'E_SHAPE',
  PLDR_ERR_DTYPE: 'E_DTYPE',
  PLDR_ERR_MISSING_TENSOR: 'E_TENSOR_MISSING',
  PLDR_ERR_STATE: 'E_STATE',
  PLDR_ERR_CONTEXT_OVERFLOW: 'E_CONTEXT',
  PLDR_ERR_TOKEN: 'E_TOKEN',
  PLDR_ERR_GCACHE: 'E_GCACHE',
  PLDR_ERR_SESSION_STATE: 'E_SESSION_STATE',
});

/** Base class of every error this runtime throws on purpose. */
export class PldrError extends Error {
  /**
   * @param {string} code   one of ERROR_CODES, e.g. 'E_SHAPE'
   * @param {string} message plain-words description naming the thing that is wrong
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'PldrError';
    this.code = code;
  }
}

/** A model folder, shard, header or tensor could not be loaded. Names the file and tensor. */
export class LoadError extends PldrError {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{file?: string, tensor?: string, url?: string, status?: number, cause?: unknown}} [info]
   *   status: the HTTP status, when a server answered
   */
  constructor(code, message, info = {}) {
    super(code, message, info.cause !== undefined ? { cause: info.cause } : undefined);
    this.name = 'LoadError';
    this.file = info.file;
    this.tensor = info.tensor;
    this.url = info.url;
    this.status = info.status;
  }
}

/** A tokenizer file is not a SentencePiece model, or text/ids cannot be converted. */
export class TokenizerError extends PldrError {
  /** @param {string} code @param {string} message @param {{cause?: unknown}} [options] */
  constructor(code, message, options) {
    super(code, message, options);
    this.name = 'TokenizerError';
  }
}

/**
 * The engine (the WebAssembly runtime) rejected a call. Made from the C status name
 * ('PLDR_ERR_SHAPE'), kept in `statusName`, whose code in STATUS_CODES becomes `code`; or from an
 * error code directly, for failures outside the C library (E_WASM).
 */
export class EngineError extends PldrError {
  /** @param {string} status a C status name or an error code @param {string} message @param {{cause?: unknown}} [options] */
  constructor(status, message, options) {
    const fromC = status.startsWith('PLDR_');
    super(fromC ? STATUS_CODES[status] ?? 'E_ENGINE' : status, message, options);
    this.name = 'EngineError';
    /** @type {string|undefined} the C status name (pldr_status_name), when the C library failed */
    this.statusName = fromC ? status : undefined;
  }
}

/** Thrown when an AbortSignal fires; `name` is 'AbortError' like the web platform's. */
export class AbortError extends PldrError {
  /** @param {string} [message] @param {{cause?: unknown}} [options] */
  constructor(message = 'The operation was aborted', options) {
    super('E_ABORTED', message, options);
    this.name = 'AbortError';
  }
}
