// docs/SPEC.md is what the code cites as "spec §N": every citation in the sources, tests and docs
// must name a section heading that exists there, so that a reader following one lands on the text
// the code relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SPEC = join(ROOT, 'docs/SPEC.md');
const SELF = fileURLToPath(import.meta.url);
const SEARCHED = ['src', 'js', 'tools', 'web', 'tests', 'include', 'bench', 'docs', 'README.md', 'Makefile'];
const TEXT = /\.(c|h|js|mjs|py|md|html|css|sh|json)$|(^|\/)(Makefile|convert)$/;
const SKIPPED_DIRS = new Set(['node_modules', 'fixtures', 'results']);

/** Section numbers of the spec's headings: "## 1. Forward pass" → "1", "### 2.2 RoPE" → "2.2". */
function specSections(markdown) {
  const sections = [];
  for (const line of markdown.split('\n')) {
    const m = /^#{2,4} (\d+(?:\.\d+)*)\.? /.exec(line);
    if (m) sections.push(m[1]);
  }
  return sections;
}

/**
 * Section numbers a text cites: "spec §2.4", ranges "§2.3–2.4" and "§1–§3" (every section in
 * between at the same level), lists "§2.2, §3" and "§2.2 and §3".
 * @returns {{cited: string, sections: string[], line: number}[]}
 */
function citations(text) {
  const found = [];
  const number = String.raw`\d+(?:\.\d+)*`;
  const cite = new RegExp(String.raw`\bspec §(${number}(?:\s*(?:[–-]|,|and)\s*§?${number})*)`, 'g');
  for (const m of text.matchAll(cite)) {
    const line = text.slice(0, m.index).split('\n').length;
    const sections = [];
    for (const part of m[1].split(/\s*(?:,|and)\s*/)) {
      const [from, to] = part.split(/\s*[–-]\s*/).map((s) => s.replace(/^§/, ''));
      sections.push(...(to === undefined ? [from] : expandRange(from, to)));
    }
    found.push({ cited: m[0], sections, line });
  }
  return found;
}

/** "2.3", "2.4" → 2.3, 2.4; "1", "3" → 1, 2, 3; a range across levels gives its two ends. */
function expandRange(from, to) {
  const a = from.split('.').map(Number), b = to.split('.').map(Number);
  const samePrefix = a.length === b.length && a.slice(0, -1).every((v, i) => v === b[i]);
  if (!samePrefix || b.at(-1) < a.at(-1)) return [from, b.join('.')];
  const out = [];
  for (let v = a.at(-1); v <= b.at(-1); v++) out.push([...a.slice(0, -1), v].join('.'));
  return out;
}

function* textFiles(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return;
  if (stat.isFile()) {
    if (TEXT.test(path)) yield path;
    return;
  }
  for (const name of readdirSync(path)) {
    if (SKIPPED_DIRS.has(name) || name.startsWith('.')) continue;
    yield* textFiles(join(path, name));
  }
}

test('parsing: headings and citations, ranges and lists', () => {
  assert.deepEqual(specSections('# Title\n## 1. Forward pass\n### 2.2 Rotary\n## Notation\n#### 3.1.2 Deep\n'), ['1', '2.2', '3.1.2']);
  const parse = (s) => citations(s).map((c) => c.sections);
  assert.deepEqual(parse('x (spec §2.4) y'), [['2.4']]);
  assert.deepEqual(parse('spec §2.3–2.4, then spec §1–§3.'), [['2.3', '2.4'], ['1', '2', '3']]);
  assert.deepEqual(parse('spec §2.2, §3 and spec §4'), [['2.2', '3'], ['4']]);
  assert.deepEqual(parse('spec §2.5–§3 and spec §2.1–2.2'), [['2.5', '3'], ['2.1', '2.2']]);
  assert.deepEqual(parse('a § alone, or "specs §2" are not citations'), []);
});

test('every "spec §N" in src/, js/, tools/, web/, tests/, include/, bench/, docs/ names a heading of docs/SPEC.md', () => {
  const sections = specSections(readFileSync(SPEC, 'utf8'));
  const known = new Set(sections);
  assert.equal(known.size, sections.length, `docs/SPEC.md numbers a section twice: ${sections.join(', ')}`);
  for (const n of ['1', '2', '2.2', '2.3', '2.4', '2.5', '3', '4', '5', '6']) assert.ok(known.has(n), `docs/SPEC.md has no section ${n}`);
  const missing = [];
  let count = 0;
  for (const top of SEARCHED) {
    for (const file of textFiles(join(ROOT, top))) {
      if (file === SELF) continue;
      for (const c of citations(readFileSync(file, 'utf8'))) {
        count++;
        for (const s of c.sections) if (!known.has(s)) missing.push(`${relative(ROOT, file)}:${c.line}: "${c.cited}" — no section ${s}`);
      }
    }
  }
  assert.ok(count >= 20, `only ${count} citations found: is the search looking in the right places?`);
  assert.deepEqual(missing, [], `citations without a section in docs/SPEC.md:\n${missing.join('\n')}`);
});
