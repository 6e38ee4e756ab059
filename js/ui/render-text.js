// Model text as DOM nodes: fenced code blocks (```lang … ```), `inline code`, and the rest as
// plain text (newlines kept by CSS white-space: pre-wrap). Everything the model wrote becomes
// text nodes — never markup: "<script>" in a reply shows as those eight characters. A fence not
// closed yet (a reply still streaming) is a code block to the end.

const FENCE = /^ {0,3}(```|~~~)[ \t]*([^\s`]*)[^\n]*$/;

/**
 * @typedef {{kind: 'text', text: string} | {kind: 'code', lang: string, text: string, open: boolean}} Block
 *   open: the closing fence has not come (yet)
 */

/** @param {string} text @returns {Block[]} */
export function splitBlocks(text) {
  /** @type {Block[]} */
  const blocks = [];
  /** @type {string[]} */
  let lines = [];
  /** @type {{fence: string, lang: string}|null} */
  let code = null;
  const flush = (kind, extra = {}) => {
    if (kind === 'text' && lines.length === 0) return;
    blocks.push(/** @type {Block} */ ({ kind, text: lines.join('\n'), ...extra }));
    lines = [];
  };
  for (const line of text.split('\n')) {
    const fence = FENCE.exec(line);
    if (!code && fence) {
      flush('text');
      code = { fence: fence[1], lang: fence[2] };
    } else if (code && fence && line.trim() === code.fence) {
      flush('code', { lang: code.lang, open: false });
      code = null;
    } else lines.push(line);
  }
  if (code) flush('code', { lang: code.lang, open: true });
  else flush('text');
  return blocks;
}

/**
 * Text with `inline code` spans, as nodes.
 * @param {string} text @param {Document} doc @returns {Node[]}
 */
function inlineNodes(text, doc) {
  const nodes = [];
  const re = /`([^`\n]+)`/g;
  let at = 0;
  for (let m; (m = re.exec(text));) {
    if (m.index > at) nodes.push(doc.createTextNode(text.slice(at, m.index)));
    const code = doc.createElement('code');
    code.textContent = m[1];
    nodes.push(code);
    at = m.index + m[0].length;
  }
  if (at < text.length) nodes.push(doc.createTextNode(text.slice(at)));
  return nodes;
}

/**
 * Renders `text` into `target` (its children are replaced). Code blocks get a copy button
 * (class "copy", the page wires the click).
 * @param {Element} target @param {string} text
 */
export function renderText(target, text) {
  const doc = target.ownerDocument;
  const out = [];
  for (const block of splitBlocks(text)) {
    if (block.kind === 'text') {
      const p = doc.createElement('span');
      p.className = 'para';
      p.append(...inlineNodes(block.text, doc));
      out.push(p);
      continue;
    }
    const box = doc.createElement('div');
    box.className = 'code';
    const head = doc.createElement('div');
    head.className = 'code-head';
    const lang = doc.createElement('span');
    lang.textContent = block.lang || 'code';
    const copy = doc.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', `Copy the ${block.lang || ''} code`.replace('  ', ' '));
    head.append(lang, copy);
    const pre = doc.createElement('pre');
    const code = doc.createElement('code');
    code.textContent = block.text;
    pre.append(code);
    box.append(head, pre);
    out.push(box);
  }
  target.replaceChildren(...out);
}
