// Pieces of error messages that come from the files themselves (names, values, the JSON parser's
// quote of a broken file): kept on one line and short, whatever the file holds.

const MAX_SHOWN = 200;

/** @param {string} text @returns {string} `text` with control characters written as \uXXXX escapes */
export function oneLine(text) {
  return String(text).replace(/[\u0000-\u001f\u007f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** @param {string} name @returns {string} the name in double quotes, escaped, at most 200 characters */
export function quote(name) {
  const text = String(name);
  return oneLine(JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text));
}

/** @param {unknown} value a parsed JSON value @returns {string} its JSON, on one line, cut at 200 characters */
export function describeValue(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    return `${Array.isArray(value) ? 'an array' : 'an object'} nested too deep to show`;
  }
  if (text === undefined) return String(value);
  return oneLine(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);
}
