// The npm tarballs as users get them, for the package and three-engine tests: `npm pack` of the
// runtime (its prepack builds dist/*.wasm and types/) and of the default model (pldr-web-tiny),
// unpacked into an npm-CDN-shaped folder (npm/NAME@VERSION/…) that tools/serve.mjs serves with CORS
// from a second origin, as jsDelivr and unpkg do.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packRuntime } from '../../tools/pack.mjs';
import { packModel } from '../../tools/pack-model.mjs';
import { startServer } from '../../tools/serve.mjs';

/**
 * Packs both packages into a fresh temporary folder.
 * @returns {{dir: string, runtime: import('../../tools/pack.mjs').Packed, model: import('../../tools/pack.mjs').Packed}}
 */
export function packBoth() {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-pack-'));
  return { dir, runtime: packRuntime(dir), model: packModel({ out: dir, staging: join(dir, 'staging-model') }) };
}

/** Unpacks a tarball's package/ folder into `to`. @param {string} tgz @param {string} to */
export function extract(tgz, to) {
  mkdirSync(to, { recursive: true });
  const r = spawnSync('tar', ['-xzf', tgz, '-C', to, '--strip-components=1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -xzf ${tgz}: ${r.stderr}`);
}

/**
 * An npm CDN for `packs`: each unpacked under npm/NAME@VERSION/ and served by tools/serve.mjs
 * (Access-Control-Allow-Origin: *, Cross-Origin-Resource-Policy: cross-origin).
 * @param {import('../../tools/pack.mjs').Packed[]} packs @param {string} root a scratch folder
 * @returns {Promise<Awaited<ReturnType<typeof startServer>> & {packageUrl(p: import('../../tools/pack.mjs').Packed): string}>}
 */
export async function startCdn(packs, root) {
  for (const p of packs) extract(p.file, join(root, 'npm', `${p.name}@${p.version}`));
  const server = await startServer({ root });
  return Object.assign(server, { packageUrl: (p) => new URL(`npm/${p.name}@${p.version}/`, server.url).href });
}
