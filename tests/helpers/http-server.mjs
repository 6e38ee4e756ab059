// A node:http server for loader tests: serves a folder with Range support and injects faults.

import { createServer } from 'node:http';
import { open, stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';

/**
 * Faults are set per file (the path below the folder, e.g. 'model-00001-of-00004.safetensors'):
 * @typedef {{
 *   status?: number,       // reply with this status instead (e.g. 500, 404, 403)
 *   times?: number,        // how many requests the fault applies to (default: every one)
 *   dropAt?: number,       // destroy the connection once the file offset reaches this byte
 *   stallAt?: number,      // stop sending (but keep the connection open) at this file offset
 *   truncate?: number,     // serve the file as if it had only this many bytes
 *   corrupt?: {offset: number, bytes: number[]},   // overwrite bytes while serving
 *   ignoreRange?: boolean, // answer Range requests with 200 and the whole file
 *   badContentRange?: boolean,  // answer Range requests with a wrong Content-Range
 * }} Fault
 * @typedef {{method: string, file: string, range: string|null, status: number}} RequestLog
 */

const SEND_CHUNK = 64 * 1024;

/**
 * @param {string} root  folder to serve
 * @returns {Promise<{url: string, requests: RequestLog[], setFault(file: string, fault: Fault): void,
 *   clearFaults(): void, close(): Promise<void>}>}
 */
export async function startServer(root) {
  const faults = new Map();
  /** @type {RequestLog[]} */
  const requests = [];
  const server = createServer((req, res) => {
    handle(root, faults, requests, req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    setFault: (file, fault) => faults.set(file, { ...fault }),
    clearFaults: () => faults.clear(),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function handle(root, faults, requests, req, res) {
  const file = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
  const range = req.headers.range ?? null;
  const log = { method: req.method, file, range, status: 0 };
  requests.push(log);
  const reply = (status, headers = {}) => {
    log.status = status;
    res.writeHead(status, headers);
  };
  const fault = takeFault(faults, file);
  if (fault?.status) return reply(fault.status, { 'content-length': 0 }), res.end();

  const path = normalize(join(root, file));
  const info = path.startsWith(normalize(root) + sep) ? await stat(path).catch(() => null) : null;
  if (!info?.isFile()) return reply(404, { 'content-length': 0 }), res.end();
  const size = Math.min(info.size, fault?.truncate ?? Infinity);

  let start = 0;
  let end = size;   // exclusive
  const m = range && /^bytes=(\d+)-(\d*)$/.exec(range);
  if (m && !fault?.ignoreRange) {
    start = Number(m[1]);
    end = m[2] ? Math.min(Number(m[2]) + 1, size) : size;
    if (start >= size) return reply(416, { 'content-range': `bytes */${size}` }), res.end();
    const shown = fault?.badContentRange ? start + 1 : start;
    reply(206, { 'content-length': end - start, 'content-range': `bytes ${shown}-${end - 1}/${size}` });
  } else {
    reply(200, { 'content-length': size, 'accept-ranges': 'bytes' });
  }
  if (req.method === 'HEAD') return res.end();
  await send(path, start, end, fault, res);
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

async function send(path, start, end, fault, res) {
  const handle = await open(path, 'r');
  try {
    let at = start;
    while (at < end) {
      if (fault?.dropAt !== undefined && at >= fault.dropAt) return void res.destroy();
      if (fault?.stallAt !== undefined && at >= fault.stallAt) return;   // the client must give up
      let stop = Math.min(end, at + SEND_CHUNK);
      for (const limit of [fault?.dropAt, fault?.stallAt]) {
        if (limit !== undefined && limit > at) stop = Math.min(stop, limit);
      }
      const bytes = Buffer.alloc(stop - at);
      await handle.read(bytes, 0, bytes.length, at);
      corrupt(bytes, at, fault?.corrupt);
      if (res.destroyed) return;
      if (!res.write(bytes)) await drained(res);
      at = stop;
    }
    res.end();
  } finally {
    await handle.close();
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
