// A node:http server for loader tests: serves a folder with Range, If-Range, ETag and
// Last-Modified like a static file server, and injects faults.

import { createServer } from 'node:http';
import { open, readFile, stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Faults are set per file (the path below the folder, e.g. 'model-00001-of-00004.safetensors'):
 * @typedef {{
 *   status?: number,       // reply with this status instead (e.g. 500, 404, 403)
 *   headers?: Record<string, string>,   // extra headers on every reply (e.g. with status: 'retry-after')
 *   times?: number,        // how many requests the fault applies to (default: every one)
 *   dropAt?: number,       // destroy the connection once the file offset reaches this byte
 *   stallAt?: number,      // stop sending (but keep the connection open) at this file offset
 *   stallHeaders?: boolean, // never send the status line and headers
 *   truncate?: number,     // serve the file as if it had only this many bytes
 *   corrupt?: {offset: number, bytes: number[]},   // overwrite bytes while serving
 *   ignoreRange?: boolean, // answer Range requests with 200 and the whole file
 *   ignoreIfRange?: boolean, // answer Range with 206 even when If-Range names another version
 *   badContentRange?: boolean,  // answer Range requests with a wrong Content-Range
 *   validators?: 'both'|'etag'|'last-modified'|'none',   // which validators to send (default both)
 *   lengthDelta?: number,  // announce Content-Length (and a 206's) this many bytes off; when
 *                          // larger than the body, the connection is closed after the real bytes
 *   gzip?: boolean,        // Content-Encoding: gzip of the whole file, Range ignored; offsets of
 *                          // dropAt/stallAt are then in the gzip bytes
 *   redirect?: string,     // 302 to this path (the same path: a redirect loop)
 *   body?: string|Uint8Array,   // serve these bytes as the file (e.g. an HTML error page with 200)
 * }} Fault
 * @typedef {{method: string, file: string, range: string|null, ifRange: string|null, status: number}} RequestLog
 */

const SEND_CHUNK = 256 * 1024;

/**
 * @param {string} root  folder to serve
 * @returns {Promise<{url: string, requests: RequestLog[], setFault(file: string, fault: Fault): void,
 *   clearFaults(): void, close(): Promise<void>, stats: {requests: number, faulted: number}}>}
 *   stats: requests served and requests a fault applied to, since the start
 */
export async function startServer(root) {
  const faults = new Map();
  /** @type {RequestLog[]} */
  const requests = [];
  const stats = { requests: 0, faulted: 0 };
  const server = createServer((req, res) => {
    handle(root, faults, requests, stats, req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    stats,
    setFault: (file, fault) => faults.set(file, { ...fault }),
    clearFaults: () => faults.clear(),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function handle(root, faults, requests, stats, req, res) {
  const file = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
  const range = req.headers.range ?? null;
  const log = { method: req.method, file, range, ifRange: req.headers['if-range'] ?? null, status: 0 };
  requests.push(log);
  const fault = takeFault(faults, file);
  stats.requests++;
  if (fault) stats.faulted++;
  const reply = (status, headers = {}) => {
    log.status = status;
    res.writeHead(status, { ...headers, ...fault?.headers });
  };
  if (fault?.stallHeaders) return;   // the client must give up
  if (fault?.status) return reply(fault.status, { 'content-length': 0 }), res.end();
  if (fault?.redirect !== undefined) return reply(302, { location: `/${fault.redirect}`, 'content-length': 0 }), res.end();

  const path = normalize(join(root, file));
  const info = path.startsWith(normalize(root) + sep) ? await stat(path).catch(() => null) : null;
  if (!info?.isFile()) return reply(404, { 'content-length': 0 }), res.end();
  let bytes = fault?.body !== undefined ? Buffer.from(fault.body) : null;
  if (fault?.gzip) bytes = await gzipped(path, info, bytes);
  const size = Math.min(bytes?.length ?? info.size, fault?.truncate ?? Infinity);
  const version = validators(info, fault?.validators ?? 'both');
  const delta = fault?.lengthDelta ?? 0;
  const encoding = fault?.gzip ? { 'content-encoding': 'gzip' } : {};

  let start = 0;
  let end = size;   // exclusive
  const m = range && /^bytes=(\d+)-(\d*)$/.exec(range);
  const ifRange = req.headers['if-range'];
  const sameVersion = !ifRange || fault?.ignoreIfRange || ifRange === version.etag || ifRange === version['last-modified'];
  if (m && !fault?.ignoreRange && !fault?.gzip && sameVersion) {
    start = Number(m[1]);
    end = m[2] ? Math.min(Number(m[2]) + 1, size) : size;
    if (start >= size) return reply(416, { 'content-range': `bytes */${size}` }), res.end();
    const shown = fault?.badContentRange ? start + 1 : start;
    reply(206, { ...version, 'content-length': end - start + delta, 'content-range': `bytes ${shown}-${end - 1}/${size + delta}` });
  } else {
    reply(200, { ...version, ...encoding, 'content-length': size + delta, 'accept-ranges': 'bytes' });
  }
  if (req.method === 'HEAD') return res.end();
  const source = bytes ? memoryReader(bytes) : await fileReader(path);
  const sent = await send(source, start, delta < 0 ? end + delta : end, fault, res);
  if (sent && delta > 0) res.destroy();   // the announced bytes that do not exist never come
  else if (sent) res.end();
}

const gzipCache = new Map();

/** The gzip of `bytes` (or of the file), kept per file version: compressing a shard takes a while. */
async function gzipped(path, info, bytes) {
  if (bytes) return gzipSync(bytes, { level: 1 });
  const key = `${path}:${info.mtimeMs}:${info.size}`;
  if (!gzipCache.has(key)) gzipCache.set(key, gzipSync(await readFile(path), { level: 1 }));
  return gzipCache.get(key);
}

/** ETag like nginx's (size and mtime) and Last-Modified, as the fault asks. */
function validators(info, which) {
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const all = { etag, 'last-modified': info.mtime.toUTCString() };
  if (which === 'none') return {};
  if (which === 'etag') return { etag };
  if (which === 'last-modified') return { 'last-modified': all['last-modified'] };
  return all;
}

/** Returns the file's fault if it still applies to this request, counting it down. */
function takeFault(faults, file) {
  const fault = faults.get(file);
  if (!fault) return null;
  if (fault.times !== undefined) {
    if (fault.times <= 0) return null;
    fault.times--;
  }
  return fault;
}

function memoryReader(bytes) {
  return { read: async (at, n) => Buffer.from(bytes.subarray(at, at + n)), close: async () => {} };
}

async function fileReader(path) {
  const handle = await open(path, 'r');
  return {
    async read(at, n) {
      const bytes = Buffer.alloc(n);
      await handle.read(bytes, 0, n, at);
      return bytes;
    },
    close: () => handle.close(),
  };
}

/** Sends bytes [start, end); @returns {Promise<boolean>} whether all of them went out */
async function send(source, start, end, fault, res) {
  try {
    let at = start;
    while (at < end) {
      if (fault?.dropAt !== undefined && at >= fault.dropAt) return void res.destroy(), false;
      if (fault?.stallAt !== undefined && at >= fault.stallAt) return false;   // the client must give up
      let stop = Math.min(end, at + SEND_CHUNK);
      for (const limit of [fault?.dropAt, fault?.stallAt]) {
        if (limit !== undefined && limit > at) stop = Math.min(stop, limit);
      }
      const bytes = await source.read(at, stop - at);
      corrupt(bytes, at, fault?.corrupt);
      if (res.destroyed) return false;
      if (!res.write(bytes)) await drained(res);
      at = stop;
    }
    return true;
  } finally {
    await source.close();
  }
}

/** Waits for 'drain', or 'close' when the client went away. */
function drained(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function corrupt(bytes, at, spec) {
  if (!spec) return;
  spec.bytes.forEach((value, i) => {
    const j = spec.offset + i - at;
    if (j >= 0 && j < bytes.length) bytes[j] = value;
  });
}
