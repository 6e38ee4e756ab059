// Byte streams of the files of a model folder served over HTTP(S): retries with exponential
// backoff, and a connection that drops mid-file resumes with `Range: bytes=N-`.

import { AbortError, LoadError } from '../errors.js';

/**
 * Where the loader reads a model folder's files from (HTTP here, a directory in source-node.js).
 * @typedef {{
 *   name(file: string): string,
 *   open(file: string, options?: {signal?: AbortSignal, start?: number}): Promise<OpenFile>,
 *   size(file: string, options?: {signal?: AbortSignal}): Promise<number|null>,
 * }} FileSource
 *   name: the URL or path that messages and cache keys use;
 *   open: starts reading at byte `start` (default 0); rejects with LoadError 'E_NOT_FOUND' when
 *   the file does not exist; size: a cheap size look-up (HEAD, stat), null when unknown.
 * @typedef {{size: number|null, chunks: AsyncIterable<Uint8Array>}} OpenFile
 *   size: the whole file's size when known; chunks: the bytes from `start` to the end, in order.
 */

/** HTTP statuses worth another try: the server or something in between may recover. */
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * @param {string|URL} baseUrl  folder URL; a missing trailing '/' is added
 * @param {{fetch?: typeof globalThis.fetch, retries?: number, retryDelayMs?: number}} [options]
 *   retries: further attempts after a failure without progress (default 4);
 *   retryDelayMs: first backoff delay, doubled on each retry (default 250)
 * @returns {FileSource}
 */
export function httpSource(baseUrl, { fetch = globalThis.fetch, retries = 4, retryDelayMs = 250 } = {}) {
  if (typeof fetch !== 'function') {
    throw new LoadError('E_SOURCE', 'no fetch() available to download the model');
  }
  const base = folderUrl(baseUrl);
  const policy = { fetch, retries, retryDelayMs };
  return {
    name: (file) => new URL(file, base).href,
    open: (file, { signal, start = 0 } = {}) =>
      new HttpFile(new URL(file, base).href, policy, signal).open(start),
    size: (file, { signal } = {}) => headSize(new URL(file, base).href, fetch, signal),
  };
}

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

/** One file's download: its position, size and retry budget survive reconnections. */
class HttpFile {
  constructor(url, policy, signal) {
    this.url = url;
    this.policy = policy;
    this.signal = signal;
    this.position = 0;           // bytes handed out so far (absolute file offset)
    this.size = null;
    this.failures = 0;           // consecutive failures without progress
    this.progressMark = -1;      // position at the last failure
    this.skip = 0;               // bytes to drop from the current body (a 200 answered a Range)
    this.response = null;
  }

  /** @returns {Promise<OpenFile>} */
  async open(start) {
    this.position = start;
    this.response = await this.connect();
    return { size: this.size, chunks: this.chunks() };
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

  request() {
    const headers = this.position > 0 ? { Range: `bytes=${this.position}-` } : {};
    const { fetch } = this.policy;   // called unbound: browsers reject fetch with a foreign `this`
    return fetch(this.url, { headers, signal: this.signal });
  }

  /** Checks the status and headers, and learns the size and how many bytes to skip. */
  accept(response) {
    const { status } = response;
    const fail = (code, message) => {
      response.body?.cancel().catch(() => {});
      return new LoadError(code, message, { url: this.url, status });
    };
    if (status === 404 || status === 410) throw fail('E_NOT_FOUND', `${this.url}: not found (HTTP ${status})`);
    if (status === 416) throw fail('E_RANGE', `${this.url}: server refused to resume at byte ${this.position} (HTTP 416)`);
    if (status !== 200 && status !== 206) {
      throw fail('E_HTTP', `${this.url}: HTTP ${status} ${response.statusText || ''}`.trim());
    }
    const length = bodyLength(response);
    if (status === 206) {
      this.checkContentRange(response, length, fail);
      this.skip = 0;
    } else {
      if (length != null) this.size ??= length;
      if (length != null && length !== this.size) {
        throw fail('E_RANGE', `${this.url}: file size changed from ${this.size} to ${length} bytes while loading`);
      }
      this.skip = this.position;   // the server ignored Range: read from the start, drop what we have
    }
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

  /** @returns {AsyncGenerator<Uint8Array>} */
  async *chunks() {
    while (true) {
      try {
        yield* this.readBody(this.response);
        if (this.size == null || this.position >= this.size) return;
        throw new Error(`connection closed at byte ${this.position} of ${this.size}`);
      } catch (err) {
        if (this.signal?.aborted) throw abortError(this.signal);
        if (err instanceof LoadError || err instanceof AbortError) throw err;
        await this.backoff(err, null);
        this.response = await this.connect();
      }
    }
  }

  async *readBody(response) {
    if (!response.body) return;
    const reader = response.body.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) return;
        let chunk = value;
        if (this.skip > 0) {
          const drop = Math.min(this.skip, chunk.length);
          this.skip -= drop;
          chunk = chunk.subarray(drop);
          if (chunk.length === 0) continue;
        }
        this.position += chunk.length;
        yield chunk;
      }
    } finally {
      reader.cancel().catch(() => {});
    }
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
    if (this.failures > this.policy.retries) {
      const attempts = this.failures;
      const why = response ? `HTTP ${response.status} ${response.statusText || ''}`.trim()
        : `network error (${err?.cause?.message ?? err?.message ?? err})`;
      throw new LoadError('E_NETWORK', `${this.url}: ${why} after ${attempts} attempts` +
        (this.position > 0 ? ` (stopped at byte ${this.position})` : ''),
        { url: this.url, status: response?.status, cause: err ?? undefined });
    }
    await sleep(this.policy.retryDelayMs * 2 ** (this.failures - 1), this.signal);
  }
}

/** @returns {number|null} Content-Length, unless a content coding makes it the wrong length */
function bodyLength(response) {
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return null;
  const length = response.headers.get('content-length');
  return length != null && /^\d+$/.test(length) ? Number(length) : null;
}

/** HEAD for the size; failures just mean "unknown" (the GET will tell us, or report them). */
async function headSize(url, fetch, signal) {
  try {
    const response = await fetch(url, { method: 'HEAD', signal });
    return response.ok ? bodyLength(response) : null;
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    return null;
  }
}
