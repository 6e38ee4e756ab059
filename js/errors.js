// Error types shared by every module. Each carries a stable `code` string callers can switch on.

/** Base class of every error this runtime throws on purpose. */
export class PldrError extends Error {
  /**
   * @param {string} code   stable machine-readable code, e.g. 'E_SHAPE'
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
  constructor(code, message, options) {
    super(code, message, options);
    this.name = 'TokenizerError';
  }
}

/** The engine (WebAssembly runtime) rejected a call; `code` mirrors the C error code name. */
export class EngineError extends PldrError {
  constructor(code, message, options) {
    super(code, message, options);
    this.name = 'EngineError';
  }
}

/** Thrown when an AbortSignal fires; `name` is 'AbortError' like the web platform's. */
export class AbortError extends PldrError {
  constructor(message = 'The operation was aborted', options) {
    super('E_ABORTED', message, options);
    this.name = 'AbortError';
  }
}
