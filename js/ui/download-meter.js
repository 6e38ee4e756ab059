// A download meter for people: bytes, speed over the last few seconds, time left.
import { formatBytes, formatDuration } from './stats-text.js';

/** @typedef {import('../loading/loader.js').LoadProgress} LoadProgress */

/** Download speed over the last few seconds, and the time left at that speed. */
export class DownloadMeter {
  /** @param {number} [windowMs] */
  constructor(windowMs = 3000) {
    this.windowMs = windowMs;
    /** @type {{t: number, loaded: number}[]} */
    this.samples = [];
    this.started = performance.now();
  }

  /**
   * @param {LoadProgress} p
   * @returns {{fraction: number|null, text: string, speed: number|null, secondsLeft: number|null}}
   */
  update(p) {
    const now = performance.now();
    this.samples.push({ t: now, loaded: p.loaded });
    while (this.samples.length > 2 && now - this.samples[0].t > this.windowMs) this.samples.shift();
    const first = this.samples[0];
    const dt = (now - first.t) / 1000;
    const speed = dt > 0.2 ? (p.loaded - first.loaded) / dt : null;
    const total = p.total && p.total >= p.loaded ? p.total : null;
    const secondsLeft = total != null && speed ? (total - p.loaded) / speed : null;
    const parts = [total != null ? `${formatBytes(p.loaded)} of ${formatBytes(total)}` : formatBytes(p.loaded)];
    if (p.fromCache) parts.push('from the browser cache');
    else if (speed) parts.push(`${formatBytes(speed)}/s`);
    if (!p.fromCache && secondsLeft != null && total !== p.loaded) parts.push(`${formatDuration(secondsLeft)} left`);
    return { fraction: total ? p.loaded / total : null, text: parts.join(' · '), speed, secondsLeft };
  }
}
