// Chat over a base model: messages rendered with a plain, configurable turn template. These are
// base models — no chat template ships with them — so the template is just a prefix per role.
// Messages already in the conversation keep their token ids, so only new text is prefilled.
import { PldrError } from '../errors.js';

/**
 * @typedef {{role: 'system'|'user'|'assistant', content: string}} Message
 * @typedef {{system: string, user: string, assistant: string, generation: string, stop: string[]}} Template
 *   system/user/assistant: how a message renders ("{content}" is replaced); generation: the text
 *   that opens the assistant's reply; stop: strings that end a reply (the model starting a new turn)
 */

/** @type {Template} */
export const PLAIN_TEMPLATE = Object.freeze({
  system: '{content}',
  user: 'User: {content}',
  assistant: 'Assistant: {content}',
  generation: 'Assistant:',
  stop: ['User:'],
});

const ROLES = ['system', 'user', 'assistant'];

/** @param {Partial<Template>} [template] @returns {Template} */
export function makeTemplate(template = {}) {
  const t = { ...PLAIN_TEMPLATE, ...template };
  for (const key of ['system', 'user', 'assistant']) {
    if (typeof t[key] !== 'string' || !t[key].includes('{content}')) {
      throw new PldrError('E_OPTION', `template.${key} must be a string containing "{content}"`);
    }
  }
  if (typeof t.generation !== 'string') throw new PldrError('E_OPTION', 'template.generation must be a string');
  if (!Array.isArray(t.stop) || !t.stop.every((s) => typeof s === 'string')) {
    throw new PldrError('E_OPTION', 'template.stop must be an array of strings');
  }
  return t;
}

/** @param {unknown} messages @returns {Message[]} */
export function checkMessages(messages) {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new PldrError('E_OPTION', 'messages must be a non-empty array of {role, content}');
  }
  messages.forEach((m, i) => {
    if (!m || !ROLES.includes(m.role) || typeof m.content !== 'string') {
      throw new PldrError('E_OPTION', `messages[${i}] must be {role: "system"|"user"|"assistant", content: string}`);
    }
  });
  return messages;
}

/**
 * Token ids of a message list: leading messages equal to `known` segments reuse their ids.
 * @param {Message[]} messages
 * @param {{role: string, content: string, ids: number[]}[]} known
 * @param {Template} template
 * @param {(text: string) => number[]} encode
 */
export function renderMessages(messages, known, template, encode) {
  const segments = [];
  let reuse = true;
  for (const [i, m] of messages.entries()) {
    reuse = reuse && i < known.length && known[i].role === m.role && known[i].content === m.content;
    const ids = reuse ? known[i].ids : encode(template[m.role].replace('{content}', m.content));
    segments.push({ role: m.role, content: m.content, ids });
  }
  return segments;
}
