#!/usr/bin/env node
// A zero-dependency static server for development and the browser tests: the right MIME types
// (application/wasm for streaming compilation), single-range HTTP Range requests (the loader
// resumes shards with them), ETag revalidation, and COOP/COEP so the page is cross-origin
// isolated (SharedArrayBuffer, hence wasm threads, can come later without touching the server).
//
//   node tools/serve.mjs [--root DIR] [--port 8080] [--host 127.0.0.1] [--page web/] [--quiet]
//
// Imported, `startServer()` runs the same server on a free port and logs every request, which
// the tests use to count what went over the network.

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.safetensors': 'application/octet-stream',
  '.model': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.f32': 'application/octet-stream',
};

/** Headers on every response. COEP require-corp: cross-origin model hosts must send CORS (Hugging Face does). */
const COMMON_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges, ETag',
  'X-Content-Type-Options': 'nosniff',
};

/**
 * @typedef {{method: string, path: string, range: string|null, status: number, bytes: number}} RequestLog
 * @typedef {{root?: string, port?: number, host?: string, log?: (line: string) => void}} ServeOptions
 *   root: folder to serve (default: the repository root); port: 0 = any free port
 */

/**
 * Starts the server; resolves once it listens.
 * @param {ServeOptions} [options]
 * @returns {Promise<{url: string, port: number, root: string, requests: RequestLog[], close(): Promise<void>}>}
 */
export async function startServer({ root = fileURLToPath(new URL('..', import.meta.url)), port = 0, host = '127.0.0.1', log } = {}) {
  const base = await realpath(resolve(root));
  /** @type {RequestLog[]} */
  const requests = [];
  const server = createServer((req, res) => {
    const entry = { method: req.method ?? 'GET', path: '', range: req.headers.range ?? null, status: 0, bytes: 0 };
    requests.push(entry);
    handle(base, req, res, entry)
      .catch((err) => {
        if (!res.headersSent) send(res, entry, 500, `500 ${err?.message ?? err}\n`);
        else res.destroy();
      })
      .finally(() => log?.(`${entry.status} ${entry.method} ${entry.path}${entry.range ? ` (${entry.range})` : ''}`));
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => { server.off('error', fail); ok(undefined); });
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const shownHost = host === '127.0.0.1' || host === '::1' || host === '0.0.0.0' ? 'localhost' : host;
  return {
    url: `http://${shownHost}:${address.port}/`,
    port: address.port,
    root: base,
    requests,
    close: () => new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok(undefined));
    }),
  };
}

/** @param {import('node:http').ServerResponse} res @param {RequestLog} entry */
function send(res, entry, status, body = '', headers = {}) {
  entry.status = status;
  res.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * @param {string} base @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res @param {RequestLog} entry
 */
async function handle(base, req, res, entry) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  entry.path = url.pathname;
  if (req.method === 'OPTIONS') {
    entry.status = 204;
    res.writeHead(204, { ...COMMON_HEADERS, 'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
      'Access-Control-Allow-Headers': 'Range, If-None-Match', 'Access-Control-Max-Age': '600' });
    return res.end();
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, entry, 405, '405 only GET and HEAD\n', { Allow: 'GET, HEAD, OPTIONS' });

  let path;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return send(res, entry, 400, '400 bad path\n');
  }
  if (path.includes('\0')) return send(res, entry, 400, '400 bad path\n');
  let file = resolve(join(base, path));
  if (file !== base && !file.startsWith(base + sep)) return send(res, entry, 403, '403 outside the served folder\n');

  let info = await stat(file).catch(() => null);
  if (info?.isDirectory()) {
    if (!url.pathname.endsWith('/')) {
      entry.status = 301;
      res.writeHead(301, { ...COMMON_HEADERS, Location: `${url.pathname}/${url.search}`, 'Content-Length': 0 });
      return res.end();
    }
    file = join(file, 'index.html');
    info = await stat(file).catch(() => null);
  }
  if (!info?.isFile()) return send(res, entry, 404, `404 not found: ${url.pathname}\n`);

  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers = {
    ...COMMON_HEADERS,
    'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Last-Modified': info.mtime.toUTCString(),
    ETag: etag,
    // Revalidate every time: edits show on reload; unchanged files cost a 304.
    'Cache-Control': 'no-cache',
  };
  if (req.headers['if-none-match'] === etag && !req.headers.range) {
    entry.status = 304;
    res.writeHead(304, headers);
    return res.end();
  }

  const size = info.size;
  let start = 0;
  let end = size - 1;   // inclusive
  let status = 200;
  const range = req.headers.range;
  // If-Range with a stale validator means: send the whole (changed) file.
  const ifRange = req.headers['if-range'];
  if (range && (!ifRange || ifRange === etag || ifRange === headers['Last-Modified'])) {
    const parsed = parseRange(range, size);
    if (parsed === 'unsatisfiable') {
      return send(res, entry, 416, '416 range not satisfiable\n', { 'Content-Range': `bytes */${size}` });
    }
    if (parsed) {
      [start, end] = parsed;
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
  }
  const length = size === 0 ? 0 : end - start + 1;
  entry.status = status;
  entry.bytes = req.method === 'HEAD' ? 0 : length;
  res.writeHead(status, { ...headers, 'Content-Length': length });
  if (req.method === 'HEAD' || length === 0) return res.end();
  await new Promise((ok, fail) => {
    const stream = createReadStream(file, { start, end });
    stream.on('error', fail);
    res.on('close', () => { stream.destroy(); ok(undefined); });
    stream.pipe(res);
  });
}

/**
 * One range of a `Range: bytes=…` header. Multiple ranges are answered with the whole file
 * (allowed by RFC 9110; nothing here asks for them).
 * @returns {[number, number]|null|'unsatisfiable'} inclusive [start, end], or null to ignore the header
 */
export function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {   // suffix: the last N bytes
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (end < start) return null;
  return [start, end];
}

// --- command line ----------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { root: undefined, port: Number(process.env.PORT ?? 8080), host: '127.0.0.1', page: 'web/', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--root') o.root = value();
    else if (a === '--port') o.port = Number(value());
    else if (a === '--host') o.host = value();
    else if (a === '--page') o.page = value().replace(/^\/+/, '');
    else if (a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error(`invalid port ${o.port}`);
  return o;
}

/**
 * What the server offers, said truly: the chat page when the folder has one; otherwise what the
 * folder is (a model folder loads in a chat page served elsewhere, by its URL).
 * @param {{url: string, root: string}} server @param {string} page @returns {Promise<string>}
 */
export async function banner(server, page) {
  const has = async (path) => (await stat(join(server.root, path)).catch(() => null))?.isFile() ?? false;
  const lines = [`PLDR-LLM dev server — serving ${server.root}`, ''];
  if (await has(join(page, 'index.html'))) {
    lines.push(`Open  ${new URL(page, server.url).href}`);
  } else {
    lines.push(`There is no chat page here (no ${page.replace(/\/?$/, '/')}index.html): the files are served as they are.`);
    if (await has('config.json')) {
      lines.push('', `This folder is a model: load it in a chat page by its address, ${server.url}`,
        `  (the page's model field, or ?model=${server.url} — e.g. make serve in the repository, then`,
        `  http://localhost:8080/web/?model=${server.url}; it asks before loading from another port)`);
    }
  }
  lines.push('', 'Ctrl-C stops it.');
  const rule = '─'.repeat(Math.max(40, ...lines.map((l) => l.length + 4)));
  return `${rule}\n${lines.map((l) => (l ? `  ${l}` : '')).join('\n')}\n${rule}`;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`serve: ${err.message}`);
    process.exit(2);
  }
  if (o.help) {
    console.log('usage: node tools/serve.mjs [--root DIR] [--port 8080] [--host 127.0.0.1] [--page web/] [--quiet]\n' +
      'Serves DIR (default: the repository root) with wasm MIME type, Range, COOP/COEP. PORT in the environment sets the port.');
    return;
  }
  let server;
  for (let port = o.port, tries = 0; ; port++, tries++) {
    try {
      server = await startServer({ root: o.root, port, host: o.host, log: o.quiet ? undefined : (line) => console.log(line) });
      break;
    } catch (err) {
      if (err?.code !== 'EADDRINUSE' || o.port === 0 || tries >= 20) {
        console.error(`serve: cannot listen on ${o.host}:${port}: ${err?.message ?? err}`);
        process.exit(1);
      }
      console.error(`serve: port ${port} is in use, trying ${port + 1}`);
    }
  }
  console.log(await banner(server, o.page));
  const stop = () => server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
