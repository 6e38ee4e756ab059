// Where the default model, pldr-tiny, is found, relative to the runtime's own files:
//
//   a checkout, or the static site of `make dist`   models/pldr-tiny/ beside the js/ folder
//   the npm package pldr-web                         the npm package pldr-web-tiny beside it:
//     node_modules/pldr-web/js/…                       node_modules/pldr-web-tiny/
//     https://cdn.jsdelivr.net/npm/pldr-web@V/js/…     https://cdn.jsdelivr.net/npm/pldr-web-tiny@V/
//     https://unpkg.com/pldr-web@V/js/…                https://unpkg.com/pldr-web-tiny@V/
//
// The weights (43 MB) stay out of pldr-web (under 1 MB) and ship as their own package of the
// same version (tools/pack-model.mjs), so a CDN serves them beside the element with CORS.

/** The npm package that holds the default model. */
export const DEFAULT_MODEL_PACKAGE = 'pldr-web-tiny';

/** The runtime's package name, and how its folder shows in a URL: node_modules/pldr-web/, …/pldr-web@V/, jsDelivr's /npm/pldr-web/. */
const PACKAGE = 'pldr-web';
const PACKAGE_FOLDER = /\/(?:node_modules\/pldr-web|pldr-web@[^/]+|npm\/pldr-web)\/$/;

/**
 * The default model folder for the runtime whose root folder (the one holding js/) is `root`.
 * @param {URL} root e.g. new URL('../', import.meta.url) in js/defaults.js
 * @returns {URL} a folder URL (ending in '/')
 */
export function defaultModelUrl(root) {
  const m = PACKAGE_FOLDER.exec(root.pathname);
  if (!m) return new URL('models/pldr-tiny/', root);
  const folder = m[0].slice(1, -1).replace(PACKAGE, DEFAULT_MODEL_PACKAGE);   // pldr-web@V → pldr-web-tiny@V
  return new URL(`${root.pathname.slice(0, m.index)}/${folder}/`, root);
}
