// A kept conversation (js/browser/conversation-store.js) as a file to download: JSON (everything,
// to read back or process) or Markdown (to read or paste).

/** @typedef {import('../browser/conversation-store.js').Conversation} Conversation */

export const EXPORT_FORMAT = 'pldr-conversation-1';

/** @param {Conversation} c @returns {string} */
export function conversationJson(c) {
  const { id, title, created, updated, model, system, items } = c;
  return `${JSON.stringify({ format: EXPORT_FORMAT, id, title, created: new Date(created).toISOString(),
    updated: new Date(updated).toISOString(), model, system, items }, null, 2)}\n`;
}

/** Text as a Markdown fence that its own backticks cannot close. @param {string} text */
function fenced(text) {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}text\n${text}\n${fence}`;
}

/** @param {Conversation} c @returns {string} */
export function conversationMarkdown(c) {
  const out = [`# ${c.title.replace(/\n/g, ' ')}`, ''];
  const when = new Date(c.updated).toISOString().replace('T', ' ').slice(0, 16);
  out.push(`*${c.model ? `${c.model.label} (${c.model.source})` : 'no model'} · ${when} UTC*`, '');
  if (c.system) out.push('**System**', '', c.system, '');
  for (const item of c.items) {
    if (item.role === 'completion') out.push('**Completion**', '', fenced(item.prompt + item.content), '');
    else out.push(`**${item.role === 'user' ? 'User' : 'Assistant'}**`, '', item.content.trimStart(), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** A file name from the title: letters, digits and dashes. @param {Conversation} c @param {string} ext */
export function exportFileName(c, ext) {
  const base = c.title.normalize('NFKD').replace(/[^\w\s-]/g, '').trim().replace(/\s+/g, '-').slice(0, 40).toLowerCase();
  return `${base || 'conversation'}.${ext}`;
}
