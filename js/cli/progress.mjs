// A one-line download progress bar on stderr (only when stderr is a terminal).

const MB = 1024 * 1024;

/** @param {NodeJS.WriteStream} [stream] @returns {(p: import('../loading/loader.js').LoadProgress) => void} */
export function progressBar(stream = process.stderr) {
  if (!stream.isTTY) return () => {};
  const start = performance.now();
  let last = 0;
  return (p) => {
    const now = performance.now();
    const done = p.total !== null && p.loaded >= p.total;
    if (!done && now - last < 100) return;
    last = now;
    const frac = p.total ? Math.min(1, p.loaded / p.total) : 0;
    const width = 24, filled = Math.round(frac * width);
    const speed = p.loaded / MB / Math.max((now - start) / 1000, 1e-3);
    const eta = p.total && speed > 0 ? (p.total - p.loaded) / MB / speed : 0;
    const line = `loading [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
      `${(p.loaded / MB).toFixed(1)}/${p.total ? (p.total / MB).toFixed(1) : '?'} MB ${speed.toFixed(1)} MB/s` +
      (done ? '' : ` ${eta.toFixed(0)}s left`) + (p.fromCache ? ' (cache)' : '');
    stream.write(`\r${line}\x1b[K${done ? '\n' : ''}`);
  };
}
