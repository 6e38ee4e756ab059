// "Did you mean …?" for the command line: the closest of the known names to what was typed.

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours). @param {string} a @param {string} b */
export function editDistance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known name closest to `typed`, when it is close enough to be a typo (or `typed` starts it).
 * @param {string} typed @param {Iterable<string>} known @returns {string|null}
 */
export function closest(typed, known) {
  let best = null, bestDistance = Infinity;
  for (const name of known) {
    const distance = name.startsWith(typed) && typed.length >= 2 ? 0.5 : editDistance(typed, name);
    if (distance < bestDistance) { best = name; bestDistance = distance; }
  }
  return best !== null && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : null;
}

/** " (did you mean X?)" or "". @param {string} typed @param {Iterable<string>} known */
export function didYouMean(typed, known) {
  const name = closest(typed, known);
  return name ? ` (did you mean ${name}?)` : '';
}
