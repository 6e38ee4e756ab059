// What people type or paste as a model's address, made into the folder URL the loader reads: a
// path relative to the page (models/mine/, ../out), an absolute URL, a Hugging Face page, or the
// URL of one of the folder's files (…/config.json, …/model-00001-of-00004.safetensors) — which
// means its folder.
import { PldrError } from '../errors.js';

/** File names of a model folder: a URL ending in one of them means the folder that holds it. */
const FOLDER_FILE = /\/(?:config\.json|tokenizer\.model|manifest\.json|model\.safetensors\.index\.json|[^/]+\.safetensors)$/i;

/**
 * @param {string} text what was typed @param {string} base the page's URL
 * @returns {string} the folder's absolute URL, ending in '/'
 * @throws {PldrError} E_SOURCE when `text` is empty or no http(s) URL
 */
export function modelFolderUrl(text, base) {
  const typed = String(text ?? '').trim();
  if (typed === '') throw new PldrError('E_SOURCE', 'the model address is empty');
  let url;
  try {
    url = new URL(typed, base);
  } catch {
    throw new PldrError('E_SOURCE', `"${typed}" is not a URL or a folder path`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PldrError('E_SOURCE', `${url.href}: only http(s) addresses, or paths relative to this page, can be loaded here`);
  }
  url.hash = '';
  // Hugging Face "blob" pages and the file views people copy are handled by the loader's folderUrl
  if (FOLDER_FILE.test(url.pathname) && !/\/blob\//.test(url.pathname)) {
    url.pathname = url.pathname.replace(/[^/]+$/, '');
    url.search = '';   // the file's own query (a signed download link, ?download=true) is not the folder's
  }
  if (!url.pathname.endsWith('/') && !/\/blob\//.test(url.pathname)) url.pathname += '/';
  return url.href;
}

/**
 * How `url` is written in the page's own address (?model=…): relative when it is on the page's
 * origin, so that a link keeps working on another host of the same site.
 * @param {string} url @param {string} base @returns {string}
 */
export function shareableModelUrl(url, base) {
  const u = new URL(url), b = new URL(base);
  if (u.origin !== b.origin) return u.href;
  const from = b.pathname.split('/').slice(0, -1), to = u.pathname.split('/');
  let common = 0;
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++;
  return `${'../'.repeat(from.length - common)}${to.slice(common).join('/')}${u.search}` || './';
}

/** @param {string} url @param {string} base @returns {boolean} whether `url` is on another origin than `base` */
export function isCrossOrigin(url, base) {
  return new URL(url, base).origin !== new URL(base).origin;
}
