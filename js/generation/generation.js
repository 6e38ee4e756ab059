// The handle a generation is returned as, by the Engine and by the worker client alike: iterate it
// for the pieces as they come, await `result` for the outcome, call `abort()` to stop it.
//
//   const run = engine.generate('Once upon a time', {maxTokens: 64});
//   for await (const {text} of run) show(text);       // leaving the loop early aborts the run
//   const {finishReason, text} = await run.result;     // also works without iterating
import { PldrError } from '../errors.js';

/** Options of generate() and respond(), by name. */
export const GENERATE_OPTIONS = Object.freeze(['maxTokens', 'temperature', 'topK', 'topP', 'minP', 'repetitionPenalty',
  'frequencyPenalty', 'presencePenalty', 'seed', 'stop', 'signal', 'onLogits']);

/**
 * The options object of generate()/respond(): `undefined` is {}; anything but a plain object, an
 * unknown name (a typo would be silently ignored otherwise) or a signal that is not an
 * AbortSignal is refused with E_OPTION. Values are checked by whoever uses them.
 * @param {unknown} options @param {readonly string[]} [known] @returns {Record<string, any>}
 */
export function checkGenerateOptions(options, known = GENERATE_OPTIONS) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new PldrError('E_OPTION', `options must be an object, not ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  const o = /** @type {Record<string, any>} */ (options);
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new PldrError('E_OPTION', `unknown option "${key}": expected ${known.join(', ')}`);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new PldrError('E_OPTION', 'signal must be an AbortSignal');
  if (o.onLogits !== undefined && typeof o.onLogits !== 'function') throw new PldrError('E_OPTION', 'onLogits must be a function');
  return o;
}

/**
 * One generation. It starts when it is first iterated or its `result` is read, so handles made
 * before either starts cannot mix. It is read once: by one loop, or through `result`.
 * @template P, R
 */
export class Generation {
  /** @type {(signal: AbortSignal) => AsyncGenerator<P, R>} */
  #start;
  #controller = new AbortController();
  /** @type {AsyncGenerator<P, R>|null} */
  #source = null;
  /** @type {'loop'|'result'|null} who reads the pieces */
  #reader = null;
  /** @type {Promise<R>} */
  #result;
  /** @type {(value: R) => void} */
  #resolve = () => {};
  /** @type {(error: unknown) => void} */
  #reject = () => {};
  /** @type {(() => void)|null} unlinks the caller's signal */
  #unlink = null;

  /**
   * @param {(signal: AbortSignal) => AsyncGenerator<P, R>} start makes the source of pieces, whose
   *   return value is the result; it must end soon after `signal` aborts
   * @param {{signal?: AbortSignal}} [options] the caller's signal: aborting it aborts the generation
   */
  constructor(start, { signal } = {}) {
    this.#start = start;
    this.#result = new Promise((resolve, reject) => { this.#resolve = resolve; this.#reject = reject; });
    this.#result.catch(() => {}); // a loop sees the error too: unread, it is not "unhandled"
    if (signal?.aborted) this.abort(signal.reason);
    else if (signal) {
      const forward = () => this.abort(signal.reason);
      signal.addEventListener('abort', forward, { once: true });
      this.#unlink = () => signal.removeEventListener('abort', forward);
    }
  }

  /** Stops the generation: it ends at the next token with finishReason 'abort'. @param {unknown} [reason] */
  abort(reason) {
    this.#controller.abort(reason);
  }

  /** Whether abort() was called (or the caller's signal fired). */
  get aborted() { return this.#controller.signal.aborted; }

  /** @type {Promise<R>} The outcome once the generation has ended. Read without a loop, it runs the generation. */
  get result() {
    if (!this.#reader) {
      this.#reader = 'result';
      this.#finish(this.#open());
    }
    return this.#result;
  }

  /** @returns {AsyncIterator<P, R> & AsyncIterable<P>} */
  [Symbol.asyncIterator]() {
    if (this.#reader) {
      throw new PldrError('E_STATE', `this generation is already read by ${this.#reader === 'loop' ? 'a loop' : 'its result'}: iterate it once, or await .result`);
    }
    this.#reader = 'loop';
    const source = this.#open();
    return {
      next: async () => {
        try {
          const step = await source.next();
          if (step.done) this.#settle(() => this.#resolve(step.value));
          return step;
        } catch (err) {
          this.#settle(() => this.#reject(err));
          throw err;
        }
      },
      // the loop was left early (break, return, throw): stop, and run to the end so the engine is idle again
      return: async () => {
        this.abort();
        await this.#finish(source);
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() { return this; },
    };
  }

  #open() {
    this.#source ??= this.#start(this.#controller.signal);
    return this.#source;
  }

  /** Reads `source` to its end and settles the result. @param {AsyncGenerator<P, R>} source */
  async #finish(source) {
    try {
      let step = await source.next();
      while (!step.done) step = await source.next();
      this.#settle(() => this.#resolve(step.value));
    } catch (err) {
      this.#settle(() => this.#reject(err));
    }
  }

  /** @param {() => void} settle */
  #settle(settle) {
    this.#unlink?.();
    this.#unlink = null;
    settle();
  }
}
