// The file bytes of a case of tests/fixtures/safetensors-headers/cases.json (the rule is in its
// "about"): used by tests/safetensors-headers.test.mjs and the C fuzzers' seeds.

/** @param {Record<string, any>} c @returns {Buffer} */
export function caseBytes(c) {
  if (c.raw_hex !== undefined) return Buffer.from(c.raw_hex, 'hex');
  const header = c.header_hex !== undefined ? Buffer.from(c.header_hex, 'hex') : Buffer.from(c.header, 'utf8');
  const length = Buffer.alloc(8);
  if (c.length_hex !== undefined) Buffer.from(c.length_hex, 'hex').copy(length);
  else length.writeBigUInt64LE(BigInt(c.length ?? header.length));
  const data = Buffer.alloc(c.data ?? 0);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 255;
  return Buffer.concat([length, header, data]);
}

