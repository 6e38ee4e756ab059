// Node only (loader.js imports it dynamically, so browsers never fetch it): a model folder on the
// local disk as a FileSource, and an on-disk FileStore for the `cacheDir` option.

import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadError } from '../errors.js';
import { storedMeta } from './model-cache.js';

/** Read size of local files: big enough to keep syscalls rare, small next to any shard. */
const READ_CHUNK = 1 << 20;

/**
 * @typedef {import('./sources.js').FileSource} FileSource
 * @typedef {import('./model-cache.js').FileStore} FileStore
 */

/**
 * @param {string|URL} dir  a directory path or file: URL
 * @returns {FileSource}
 */
export function directorySource(dir) {
  const root = dir instanceof URL || /^file:/i.test(dir) ? fileURLToPath(dir) : dir;
  const name = (file) => join(root, file);
  return {
    name,
    async open(file, { signal, start = 0 } = {}) {
      const path = name(file);
      const info = await statFile(path, file, root);
      const stream = createReadStream(path, { start, signal, highWaterMark: READ_CHUNK });
      return { size: info.size, chunks: stream };
    },
    async size(file) {
      try {
        return (await stat(name(file))).size;
      } catch {
        return null;
      }
    },
  };
}

async function statFile(path, file, root) {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if (err.code === 'ENOTDIR' && (await stat(root).catch(() => null))?.isFile()) {
      throw new LoadError('E_NOT_FOUND', `${root}: a file, not a model folder (give the folder that holds config.json)`, { file, cause: err });
    }
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') {
      throw new LoadError('E_NOT_FOUND', `${path}: not found`, { file, cause: err });
    }
    throw new LoadError('E_READ', `${path}: ${err.message}`, { file, cause: err });
  }
  if (!info.isFile()) throw new LoadError('E_NOT_FOUND', `${path}: not a file`, { file });
  return info;
}

/** Node's native streaming SHA-256, with the interface of js/loading/sha256.js's Sha256. */
export function nodeSha256() {
  const hash = createHash('sha256');
  return {
    update(bytes) { hash.update(bytes); return this; },
    hex: () => hash.digest('hex'),
  };
}

/**
 * A FileStore in a directory: `<sha256 of key>.bin` holds the bytes and `<…>.json` the record,
 * which is written last, so a crash mid-write leaves nothing that is read back.
 * @param {string} cacheDir  created when missing
 * @returns {FileStore}
 */
export function diskStore(cacheDir) {
  const paths = (key) => {
    const base = join(cacheDir, createHash('sha256').update(key).digest('hex'));
    return { bin: `${base}.bin`, meta: `${base}.json` };
  };
  const remove = async (key) => {
    const { bin, meta } = paths(key);
    await rm(meta, { force: true });
    await rm(bin, { force: true });
  };
  return {
    async get(key) {
      const { bin, meta } = paths(key);
      let record;
      try {
        record = JSON.parse(await readFile(meta, 'utf8'));
      } catch {
        return null;
      }
      if (record.key !== key) return null;
      if (record.absent) return { absent: true };
      const size = await stat(bin).then((s) => s.size, () => -1);
      if (size !== record.size) {
        await remove(key);   // truncated or replaced behind our back
        return null;
      }
      return {
        ...storedMeta(record),
        read: (signal) => createReadStream(bin, { signal, highWaterMark: READ_CHUNK }),
      };
    },
    async writer(key) {
      await mkdir(cacheDir, { recursive: true });
      return new DiskWriter(key, paths(key), remove);
    },
    async putAbsent(key) {
      await mkdir(cacheDir, { recursive: true });
      await writeAtomically(paths(key).meta, JSON.stringify({ key, absent: true }));
    },
    delete: remove,
  };
}

/** Writes to a temporary file, renamed into place on commit. Never throws. */
class DiskWriter {
  constructor(key, paths, remove) {
    this.key = key;
    this.paths = paths;
    this.remove = remove;
    this.temp = `${paths.bin}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    this.handle = open(this.temp, 'w').catch(() => null);
    this.buffer = new Uint8Array(READ_CHUNK);   // coalesces small network chunks
    this.used = 0;
    this.failed = false;
  }

  async write(bytes) {
    if (this.failed) return;
    if (this.used + bytes.length > this.buffer.length) await this.flush();
    if (bytes.length >= this.buffer.length) return this.writeOut(bytes);
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  async flush() {
    if (this.used === 0) return;
    const bytes = this.buffer.subarray(0, this.used);
    this.used = 0;
    await this.writeOut(bytes);
  }

  async writeOut(bytes) {
    const handle = await this.handle;
    try {
      if (!handle) throw new Error('cache file not open');
      let done = 0;
      while (done < bytes.length) done += (await handle.write(bytes, done)).bytesWritten;
    } catch {
      this.failed = true;
    }
  }

  async commit(meta) {
    await this.flush();
    const handle = await this.handle;
    try {
      await handle?.close();
      if (this.failed || !handle) throw new Error('not kept');
      await rm(this.paths.meta, { force: true });
      await rename(this.temp, this.paths.bin);
      await writeAtomically(this.paths.meta, JSON.stringify({ key: this.key, ...meta }));
    } catch {
      await rm(this.temp, { force: true }).catch(() => {});
    }
  }

  async discard() {
    const handle = await this.handle;
    await handle?.close().catch(() => {});
    await rm(this.temp, { force: true }).catch(() => {});
  }
}

async function writeAtomically(path, text) {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}
