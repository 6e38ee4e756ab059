// A one-line download progress bar on stderr (only when stderr is a terminal). Sizes in SI units
// (MB = 10^6 bytes), as everywhere in the runtime (js/ui/stats-text.js formatBytes).
import { formatBytes } from '../ui/stats-text.js';

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
    const speed = p.loaded / Math.max((now - start) / 1000, 1e-3);   // bytes/s
    const eta = p.total && speed > 0 ? (p.total - p.loaded) / speed : 0;
    const line = `loading [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
      `${formatBytes(p.loaded)} of ${p.total ? formatBytes(p.total) : '?'} ${formatBytes(speed)}/s` +
      (done ? '' : ` ${eta.toFixed(0)}s left`) + (p.fromCache ? ' (cache)' : '');
    stream.write(`\r${line}\x1b[K${done ? '\n' : ''}`);
  };
}
