// Byte streams of the files of a model folder served over HTTP(S): retries with exponential
// backoff (a Retry-After honoured up to a bound), an idle timeout on every wait for the server,
// and resumes that never splice two versions of a file. A connection that drops mid-file resumes
// with `Range: bytes=N-` and `If-Range` carrying the validator (strong ETag, else Last-Modified)
// of the first response, so a changed file comes back whole (200) instead of as a foreign tail;
// without a validator, or when the body is content-coded (Range offsets would not be ours), the
// file is read again from byte 0 and the bytes already handed out are checked against their
// sha256 before any new byte is. A file that did change is E_CHANGED, never spliced.

import { AbortError, LoadError, PldrError } from '../errors.js';
import { Sha256 } from './sha256.js';

/**
 * What identifies one version of a file on the server.
 * @typedef {{etag?: string, lastModified?: string}} Validator
 *   etag: a strong ETag (weak ones cannot be used for If-Range); lastModified: the header as sent
 * @typedef {{signal?: AbortSignal, start?: number, validator?: Validator|null, verifiable?: boolean}} OpenOptions
 *   start: first byte to read (default 0). With start > 0 the bytes before it are the caller's and
 *   must be of the version read now: pass the `validator` they were read under (If-Range), or
 *   set `verifiable` when the caller checks the whole file's sha256 itself (manifest.json): then
 *   a resume may go on without a validator, and the final check decides.
 * @typedef {{
 *   name(file: string): string,
 *   open(file: string, options?: OpenOptions): Promise<OpenFile>,
 *   size(file: string, options?: {signal?: AbortSignal}): Promise<number|null>,
 * }} FileSource
 *   Where the loader reads a model folder's files from (HTTP here, a directory in source-node.js).
 *   name: the URL or path that messages and cache keys use; open: rejects with LoadError
 *   'E_NOT_FOUND' when the file does not exist; size: a cheap size look-up (HEAD, stat), null
 *   when unknown.
 * @typedef {{size: number|null, validator?: Validator|null, chunks: AsyncIterable<Uint8Array>}} OpenFile
 *   size: the whole file's size when known; validator: of the version being read (HTTP), known
 *   once open() resolves; chunks: the bytes from `start` to the end, in order.
 * @typedef {{
 *   fetch?: typeof globalThis.fetch, retries?: number, retryDelayMs?: number,
 *   idleTimeoutMs?: number, maxRetryAfterMs?: number,
 *   newHash?: () => {update(bytes: Uint8Array): unknown, hex(): string},
 * }} HttpOptions
 *   retries: further attempts after a failure without progress (default 4); retryDelayMs: first
 *   backoff delay, doubled on each retry (default 250); idleTimeoutMs: longest wait for the
 *   server's answer or for the body's next bytes before the attempt counts as failed (default
 *   30 000); maxRetryAfterMs: the longest Retry-After (429/503) that is waited for; a server
 *   asking for more fails the load at once (default 60 000); newHash: SHA-256 factory (Node
 *   passes its native one)
 */

export const DEFAULT_RETRIES = 4;
export const DEFAULT_RETRY_DELAY_MS = 250;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/** HTTP statuses worth another try: the server or something in between may recover. */
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * @param {string|URL} baseUrl  folder URL; a missing trailing '/' is added
 * @param {HttpOptions} [options]
 * @returns {FileSource}
 */
export function httpSource(baseUrl, options = {}) {
  const policy = networkPolicy(options);
  const base = folderUrl(baseUrl);
  return {
    name: (file) => new URL(file, base).href,
    open: (file, { signal, ...from } = {}) => new HttpFile(new URL(file, base).href, policy, signal, from).open(),
    size: (file, { signal } = {}) => headSize(new URL(file, base).href, policy, signal),
  };
}

/**
 * The options of httpSource with their defaults, checked.
 * @param {HttpOptions} options
 * @returns {Required<HttpOptions>}
 */
export function networkPolicy({
  fetch = globalThis.fetch, retries = DEFAULT_RETRIES, retryDelayMs = DEFAULT_RETRY_DELAY_MS,
  idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS, maxRetryAfterMs = DEFAULT_MAX_RETRY_AFTER_MS,
  newHash = () => new Sha256(),
} = {}) {
  if (typeof fetch !== 'function') {
    throw new LoadError('E_SOURCE', 'no fetch() available to download the model');
  }
  const checks = [
    ['retries', retries, Number.isSafeInteger(retries) && retries >= 0, 'a non-negative integer'],
    ['retryDelayMs', retryDelayMs, Number.isFinite(retryDelayMs) && retryDelayMs >= 0, 'a non-negative number'],
    // setTimeout fires at once past 2^31-1 ms: a larger idle timeout would be none at all
    ['idleTimeoutMs', idleTimeoutMs, Number.isFinite(idleTimeoutMs) && idleTimeoutMs > 0 && idleTimeoutMs <= MAX_TIMER_MS, `a number of ms in (0, ${MAX_TIMER_MS}]`],
    ['maxRetryAfterMs', maxRetryAfterMs, Number.isFinite(maxRetryAfterMs) && maxRetryAfterMs >= 0 && maxRetryAfterMs <= MAX_TIMER_MS, `a number of ms in [0, ${MAX_TIMER_MS}]`],
  ];
  for (const [name, value, ok, want] of checks) {
    if (!ok) throw new LoadError('E_OPTION', `invalid ${name} ${JSON.stringify(value) ?? String(value)}: expected ${want}`);
  }
  return { fetch, retries, retryDelayMs, idleTimeoutMs, maxRetryAfterMs, newHash };
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** If-Range is not a CORS-safelisted header: in a page or worker a host may refuse the preflight. */
const IN_BROWSER = typeof document !== 'undefined' || typeof globalThis.WorkerGlobalScope !== 'undefined';

const HUGGING_FACE_HOSTS = ['huggingface.co', 'hf.co'];

/**
 * @param {string|URL} url  a model folder; on Hugging Face also the repository's page as people
 *   copy it from the address bar (…/org/name, …/org/name/tree/rev[/dir], …/org/name/blob/rev/file)
 * @returns {URL} the folder's URL with a trailing '/' so that `new URL(file, it)` stays inside it
 *   (Hugging Face: the …/org/name/resolve/rev/[dir/] form that serves the files)
 */
export function folderUrl(url) {
  const u = new URL(String(url), globalThis.location?.href);
  if (HUGGING_FACE_HOSTS.includes(u.hostname)) u.pathname = huggingFaceFolder(u.pathname);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

function huggingFaceFolder(pathname) {
  const [org, name, kind, rev, ...rest] = pathname.split('/').filter(Boolean);
  if (!org || !name || org === 'datasets' || org === 'spaces') return pathname;
  if (kind === undefined) return `/${org}/${name}/resolve/main/`;
  if (kind === 'tree' && rev) return `/${org}/${name}/resolve/${rev}/${rest.map((p) => `${p}/`).join('')}`;
  if (kind === 'blob' && rev) return `/${org}/${name}/resolve/${rev}/${rest.slice(0, -1).map((p) => `${p}/`).join('')}`;
  return pathname;
}

/**
 * Sleeps `ms`, rejecting with AbortError as soon as `signal` aborts.
 * @param {number} ms
 * @param {AbortSignal} [signal]
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** @param {AbortSignal} signal */
export function abortError(signal) {
  return new AbortError('The model load was aborted', { cause: signal.reason });
}

/**
 * One file's download: its position, size, version and retry budget survive reconnections.
 * `position` counts the bytes handed out; a resume continues there by one of two means:
 * 'range' (Range + If-Range, for an identity-coded file with a validator, or any file whose
 * sha256 the caller checks) or 'reread' (from byte 0, checking the first `position` bytes against
 * their sha256, or dropping them unchecked when the caller verifies the whole file).
 */
class HttpFile {
  /**
   * @param {string} url @param {Required<HttpOptions>} policy @param {AbortSignal|undefined} signal
   * State: position, the bytes handed out so far (an absolute file offset); size; validator, the
   * version being read (from the first response); encoded, the body is content-coded (Range
   * offsets are not ours); handed, the sha256 of bytes [0, position), kept when a resume must
   * re-read; prefix {sha256, length}, what a re-read must find; check {hash, left}, while a
   * re-read's first bytes are checked; skip, bytes to drop unchecked from the current body;
   * failures, consecutive failures without progress, and progressMark, the position at the last
   * one; ifRangeFailed, in a browser a request with If-Range failed outright (its preflight?);
   * sent {mode, ifRange} and attempt {controller, release}, of the current request.
   */
  constructor(url, policy, signal, { start = 0, validator = null, verifiable = false } = {}) {
    if (start > 0 && !validator && !verifiable) {
      throw new Error('HttpFile: a read from byte > 0 needs a validator or a verifying caller');
    }
    this.url = url;
    this.policy = policy;
    this.signal = signal;
    this.position = start;
    this.size = null;
    this.validator = validator;
    this.verifiable = verifiable;
    this.encoded = false;
    this.handed = null;
    this.prefix = null;
    this.check = null;
    this.skip = 0;
    this.failures = 0;
    this.progressMark = -1;
    this.ifRangeFailed = false;
    this.sent = null;
    this.attempt = null;
    this.response = null;
  }

  /** @returns {Promise<OpenFile>} */
  async open() {
    try {
      this.response = await this.connect();
    } catch (err) {
      this.endAttempt();
      throw err;
    }
    return { size: this.size, validator: this.validator, chunks: this.chunks() };
  }

  /** Requests the file from `position`, retrying what may recover. */
  async connect() {
    while (true) {
      if (this.signal?.aborted) throw abortError(this.signal);
      let response;
      try {
        response = await this.request();
      } catch (err) {
        if (this.signal?.aborted) throw abortError(this.signal);
        if (isRedirectLoop(err)) {
          throw new LoadError('E_HTTP', `${this.url}: too many redirects (${err.cause.message})`, { url: this.url, cause: err });
        }
        if (this.sent?.ifRange && !err?.idle && IN_BROWSER) this.ifRangeFailed = true;
        await this.backoff(err, null);
        continue;
      }
      if (RETRYABLE_STATUS.has(response.status)) {
        response.body?.cancel().catch(() => {});
        await this.backoff(null, response);
        continue;
      }
      this.accept(response);
      return response;
    }
  }

  /** 'whole' at byte 0, else how this resume gets the bytes from `position` on. */
  mode() {
    if (this.position === 0) return 'whole';
    if (this.prefix || (!this.validator && !this.verifiable)) return 'reread';
    // Range counts the coded bytes; a re-read can still be checked (or is verified by the caller).
    if (this.encoded && (this.handed || this.verifiable)) return 'reread';
    return 'range';
  }

  request() {
    const mode = this.mode();
    const headers = {};
    const ifRange = mode === 'range' && !this.ifRangeFailed && (this.validator?.etag ?? this.validator?.lastModified);
    if (mode === 'range') headers.Range = `bytes=${this.position}-`;
    if (ifRange) headers['If-Range'] = ifRange;
    this.sent = { mode, ifRange: !!ifRange };
    const attempt = this.startAttempt();
    const { fetch } = this.policy;   // called unbound: browsers reject fetch with a foreign `this`
    return this.idle(fetch(this.url, { headers, signal: attempt.signal }), 'waiting for the server to answer');
  }

  /** Checks the status and headers: learns the size and version, or how to go on from `position`. */
  accept(response) {
    const { status } = response;
    const fail = (code, message) => {
      response.body?.cancel().catch(() => {});
      return new LoadError(code, message, { url: this.url, status });
    };
    if (status === 404 || status === 410) throw fail('E_NOT_FOUND', `${this.url}: not found (HTTP ${status})`);
    if (status === 416) throw this.refusedRange(fail);
    if (status !== 200 && status !== 206) {
      throw fail('E_HTTP', `${this.url}: HTTP ${status} ${response.statusText || ''}`.trim());
    }
    if (status === 206 && this.sent.mode !== 'range') {
      throw fail('E_RANGE', `${this.url}: HTTP 206 (a part of the file) to a request for all of it`);
    }
    const length = bodyLength(response);
    const seen = validatorOf(response);
    if (this.sent.mode === 'whole') {   // nothing handed out yet: this response is the version read
      this.validator = seen;
      this.encoded = isEncoded(response);
      this.size = length;
      this.handed = !this.verifiable && (!seen || this.encoded) ? this.policy.newHash() : null;
      this.skip = 0;
      return;
    }
    if (status === 206) {
      if (isEncoded(response)) throw fail('E_RANGE', `${this.url}: a content-coded part of the file (its offsets are not the file's)`);
      this.checkContentRange(response, length, fail);
      // without If-Range (it failed once) only a validator shown on the 206 itself proves the version
      return this.checkVersion(seen, fail, !this.sent.ifRange && !this.verifiable, 'the resumed part');
    }
    if (length != null && this.size != null && length !== this.size) {
      throw fail('E_CHANGED', this.changedMessage(`its size went from ${this.size} to ${length} bytes`));
    }
    this.size ??= length;
    this.encoded = isEncoded(response);
    if (this.sent.mode === 'reread') return this.startReread();
    // A 200 to Range: the server ignored Range, or If-Range found another version; if the same,
    // read from its start and drop what we have.
    this.checkVersion(seen, fail, !this.verifiable, 'the file sent whole again');
    this.skip = this.position;
  }

  /** Throws E_CHANGED when `seen` is another version, or when `unproven` and it cannot be told. */
  checkVersion(seen, fail, unproven, what) {
    const v = this.validator;
    const [name, key] = v?.etag && seen?.etag ? ['ETag', 'etag'] : ['Last-Modified', 'lastModified'];
    const same = v?.[key] && seen?.[key] ? v[key] === seen[key] : null;
    if (same === false) throw fail('E_CHANGED', this.changedMessage(`${name} ${v[key]}, now ${seen[key]}`));
    if (same === null && unproven) throw fail('E_CHANGED', this.changedMessage(`${what} shows no validator to prove it is the same version`));
    this.skip = 0;
  }

  /** A re-read from byte 0: its first `position` bytes are checked (or, verifiable, dropped). */
  startReread() {
    if (this.verifiable && !this.prefix) {
      this.skip = this.position;
      return;
    }
    this.prefix ??= { sha256: this.handed.hex(), length: this.position };
    this.check = { hash: this.policy.newHash(), left: this.prefix.length };
    this.handed = this.policy.newHash();
    this.skip = 0;
  }

  /** HTTP 416 to `bytes=position-`: the server has no byte at `position`. */
  refusedRange(fail) {
    if (this.size != null && this.position < this.size) {
      return fail('E_TRUNCATED', `${this.url}: truncated: the body ended at byte ${this.position} of the ` +
        `${this.size} its Content-Length announced, and the server has no byte past it (HTTP 416)`);
    }
    return fail('E_RANGE', `${this.url}: server refused to resume at byte ${this.position} (HTTP 416)`);
  }

  checkContentRange(response, length, fail) {
    const header = response.headers.get('content-range');
    const m = header && /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
    if (m) {
      const [first, last] = [Number(m[1]), Number(m[2])];
      const total = m[3] === '*' ? null : Number(m[3]);
      if (total != null) this.size ??= total;
      if (first === this.position && (total == null || (total === this.size && last === total - 1))) return;
    } else if (!header && this.size != null && length === this.size - this.position) {
      return;   // cross-origin replies may hide Content-Range; the length still proves the range
    }
    throw fail('E_RANGE', `${this.url}: asked for bytes ${this.position}- of ${this.size ?? '?'} ` +
      `but got Content-Range "${header ?? '(none)'}"`);
  }

  changedMessage(why) {
    return `${this.url}: the file changed on the server while it was read (${why}): load again`;
  }

  /** @returns {AsyncGenerator<Uint8Array>} */
  async *chunks() {
    try {
      while (true) {
        try {
          yield* this.readBody(this.response);
          if (this.size == null || this.position >= this.size) return;
          throw new Error(`connection closed at byte ${this.position} of ${this.size}`);
        } catch (err) {
          if (this.signal?.aborted) throw abortError(this.signal);
          if (err instanceof PldrError) throw err;
          await this.backoff(err, null);
          this.response = await this.connect();
        }
      }
    } finally {
      this.endAttempt();
    }
  }

  async *readBody(response) {
    if (!response.body) return;
    const reader = response.body.getReader();
    try {
      while (true) {
        const { done, value } = await this.idle(reader.read(), 'reading the body');
        if (done) return;
        let chunk = value;
        if (this.check) chunk = this.checkPrefix(chunk);
        if (this.skip > 0) {
          const drop = Math.min(this.skip, chunk.length);
          this.skip -= drop;
          chunk = chunk.subarray(drop);
        }
        if (chunk.length === 0) continue;
        this.handed?.update(chunk);
        this.position += chunk.length;
        yield chunk;
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** Feeds a re-read's first bytes to the check; returns what follows them. */
  checkPrefix(chunk) {
    const { check, prefix } = this;
    const part = chunk.subarray(0, Math.min(check.left, chunk.length));
    check.hash.update(part);
    this.handed.update(part);
    check.left -= part.length;
    if (check.left > 0) return chunk.subarray(part.length);
    this.check = null;
    if (check.hash.hex() !== prefix.sha256) {
      throw new LoadError('E_CHANGED', this.changedMessage(`read again from its start, its first ` +
        `${prefix.length} bytes differ from those read before`), { url: this.url });
    }
    this.prefix = null;
    return chunk.subarray(part.length);
  }

  /** A fresh AbortController for one request, aborted with the load's signal. */
  startAttempt() {
    this.endAttempt();
    const controller = new AbortController();
    const forward = () => controller.abort(this.signal.reason);
    this.signal?.addEventListener('abort', forward, { once: true });
    this.attempt = { controller, release: () => this.signal?.removeEventListener('abort', forward) };
    return controller;
  }

  endAttempt() {
    this.attempt?.release();
    this.attempt = null;
  }

  /**
   * `promise`, or a rejection (err.idle) once idleTimeoutMs pass without it settling; the
   * request is then aborted, which closes its connection.
   */
  idle(promise, what) {
    const ms = this.policy.idleTimeoutMs;
    const attempt = this.attempt;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        attempt?.controller.abort();
        reject(Object.assign(new Error(`stalled: no data for ${seconds(ms)} while ${what}`), { idle: true }));
      }, ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Counts a failure and waits before the next attempt; throws once the budget is spent.
   * Progress since the previous failure restores the budget, so a long download over a flaky
   * link is not failed by drops spread over its whole length.
   */
  async backoff(err, response) {
    if (this.position > this.progressMark) this.failures = 0;
    this.progressMark = this.position;
    this.failures++;
    const why = response ? `HTTP ${response.status} ${response.statusText || ''}`.trim()
      : err?.idle ? err.message : `network error (${err?.cause?.message ?? err?.message ?? err})`;
    const fail = (message) => new LoadError('E_NETWORK', message,
      { url: this.url, status: response?.status, cause: err ?? undefined });
    const stopped = this.position > 0 ? ` (stopped at byte ${this.position}${this.size != null ? ` of ${this.size}` : ''})` : '';
    if (this.failures > this.policy.retries) throw fail(`${this.url}: ${why} after ${this.failures} attempts${stopped}`);
    let delay = this.policy.retryDelayMs * 2 ** (this.failures - 1);
    const asked = response ? retryAfterMs(response) : null;
    if (asked != null && asked > this.policy.maxRetryAfterMs) {
      throw fail(`${this.url}: ${why}: the server asks to retry after ${seconds(asked)}, longer than ` +
        `the ${seconds(this.policy.maxRetryAfterMs)} a load waits (maxRetryAfterMs)${stopped}`);
    }
    if (asked != null) delay = Math.max(delay, asked);
    await sleep(delay, this.signal);
  }
}

/** @returns {number|null} Content-Length, unless a content coding makes it the wrong length */
function bodyLength(response) {
  if (isEncoded(response)) return null;
  const length = response.headers.get('content-length');
  return length != null && /^\d+$/.test(length) ? Number(length) : null;
}

function isEncoded(response) {
  const encoding = response.headers.get('content-encoding');
  return !!encoding && encoding.trim().toLowerCase() !== 'identity';
}

/** @returns {Validator|null} */
function validatorOf(response) {
  const etag = response.headers.get('etag')?.trim();
  const lastModified = response.headers.get('last-modified')?.trim();
  /** @type {Validator} */
  const v = {};
  if (etag && !etag.startsWith('W/')) v.etag = etag;
  if (lastModified) v.lastModified = lastModified;
  return v.etag || v.lastModified ? v : null;
}

/** @returns {number|null} the wait a 429/503's Retry-After asks for, in ms */
function retryAfterMs(response) {
  if (response.status !== 429 && response.status !== 503) return null;
  const value = response.headers.get('retry-after')?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

/** Node's fetch says so in the cause; browsers give a bare TypeError, retried as a network error. */
function isRedirectLoop(err) {
  return err instanceof TypeError && /redirect/i.test(String(err.cause?.message ?? ''));
}

function seconds(ms) {
  return `${+(ms / 1000).toFixed(3)} s`;
}

/** HEAD for the size; failures (and a HEAD that stalls) just mean "unknown": the GET will tell. */
async function headSize(url, { fetch, idleTimeoutMs }, signal) {
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  signal?.addEventListener('abort', forward, { once: true });
  const timer = setTimeout(() => controller.abort(), idleTimeoutMs);
  try {
    const response = await fetch(url, { method: 'HEAD', signal: controller.signal });
    return response.ok ? bodyLength(response) : null;
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    return null;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', forward);
  }
}
