// The npm package as a user gets it: `npm pack` (prepack builds dist/*.wasm and the .d.ts), the
// tarball installed into a fresh project with no network (`npm install --offline` of the local
// tarball), then: Node imports it by name and generates as the CLI does; `npx pldr` and a global
// install's `pldr` run, with the default model installed beside it or downloaded once when not;
// tests/types/consumer.ts type-checks against the shipped declarations (and a mismatch fails); a
// static page imports <pldr-chat> from node_modules and answers in the browser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASM_URLS } from '../js/runtime/wasm-location.js';
import { startServer as startStaticServer } from '../tools/serve.mjs';
import { TARBALL_BUDGET } from '../tools/pack.mjs';
import { ROOT, engineMissing, launch } from './helpers/browser.mjs';
import { startServer as startModelServer } from './helpers/http-server.mjs';
import { packBoth } from './helpers/packed.mjs';
import { skipUnlessCI } from './helpers/skip.mjs';

const MODEL_DIR = join(ROOT, 'models/pldr-tiny');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const TSC = join(ROOT, 'node_modules/.bin/tsc');
const PROMPT = 'The Python language is';
const npmMissing = skipUnlessCI(spawnSync('npm', ['--version']).status === 0 ? false : 'npm not installed');

/** Runs a command; returns {status, stdout, stderr}. */
function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 300_000, ...options });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}
/** run() without blocking this process (whose servers the command talks to). */
function runAsync(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill(), 300_000);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}
/** Like run(), failing with the output unless the command succeeds. */
function ok(command, args, options) {
  const r = run(command, args, options);
  assert.equal(r.status, 0, `${command} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A fresh project folder with a package.json, as `npm init` leaves it. */
function newProject(parent, name) {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  return dir;
}

/** `npm install` of local tarballs, with the network off. */
function installOffline(dir, tarballs, extra = []) {
  return ok('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', ...extra, ...tarballs], { cwd: dir });
}

const GENERATE = ['generate', '--prompt', PROMPT, '--max-tokens', '16', '--greedy', '--json', '--no-progress'];
/** The repository's own CLI: what the installed package must reproduce. */
const fromRepo = () => JSON.parse(ok(process.execPath, [join(ROOT, 'js/cli.mjs'), ...GENERATE, '--model', MODEL_DIR]).stdout);

describe('the npm package, packed and installed', { skip: npmMissing }, () => {
  let packed, work, project, expected;

  before(() => {
    packed = packBoth();
    work = mkdtempSync(join(tmpdir(), 'pldr-installed-'));
    project = newProject(work, 'app');
    installOffline(project, [packed.runtime.file, packed.model.file]);
    expected = fromRepo();
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
    if (packed) rmSync(packed.dir, { recursive: true, force: true });
  });

  test(`the tarball: at most ${TARBALL_BUDGET / 1024} KB, what runs and nothing else`, (t) => {
    const { runtime } = packed;
    t.diagnostic(`${runtime.file.split('/').pop()}: ${runtime.size} bytes, ${runtime.unpackedSize} unpacked, ${runtime.files.length} files`);
    assert.ok(runtime.size <= TARBALL_BUDGET, `${runtime.size} bytes`);
    const paths = runtime.files.map((f) => f.path);
    for (const url of Object.values(WASM_URLS)) {
      const file = `dist/${url.pathname.split('/').pop()}`;
      assert.ok(paths.includes(file), `${file} (js/runtime/wasm-location.js lists it) is in the tarball`);
    }
    for (const file of ['package.json', 'README.md', 'js/pldr.js', 'js/cli.mjs', 'js/pldr-chat.js', 'js/browser/worker.js',
      'types/pldr.d.ts', 'types/browser/worker-client.d.ts', 'types/pldr-chat.d.ts', 'docs/FORMAT.md']) {
      assert.ok(paths.includes(file), `${file} is in the tarball`);
    }
    const stray = paths.filter((p) => /^(tests|bench|src|include|models|tools|web|build|node_modules)\//.test(p) || /\.tgz$/.test(p));
    assert.deepEqual(stray, [], 'no tests, benchmarks, sources, models or tools');
    // every path package.json points at is in the tarball
    const targets = [PKG.main, PKG.types, ...Object.values(PKG.bin),
      ...Object.values(PKG.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))];
    for (const target of targets.filter((p) => !p.includes('*'))) {
      assert.ok(paths.includes(target.replace(/^\.\//, '')), `${target} (package.json) is in the tarball`);
    }
    assert.equal(packed.model.name, 'pldr-web-tiny');
    assert.equal(packed.model.version, PKG.version, 'the model package has the runtime\'s version');
  });

  test('one version: package.json, include/pldr.h, the README\'s CDN URLs and pldr_version() of every packed wasm module', async () => {
    const header = /#define PLDR_VERSION "([^"]+)"/.exec(readFileSync(join(ROOT, 'include/pldr.h'), 'utf8'))?.[1];
    assert.equal(header, PKG.version, 'include/pldr.h PLDR_VERSION');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const cdnVersions = [...readme.matchAll(/\/pldr-web(?:-tiny)?@([^/\s`]+)\//g)].map((m) => m[1]);
    assert.ok(cdnVersions.length >= 3, 'the README shows the CDN embed');
    assert.deepEqual([...new Set(cdnVersions)].filter((v) => v !== 'VERSION'), [PKG.version], 'the README\'s CDN URLs name this version');
    const dist = join(project, 'node_modules/pldr-web/dist');
    for (const file of readdirSync(dist).filter((f) => f.endsWith('.wasm'))) {
      // the flag lets Node 20 compile the relaxed-SIMD module (pldr_version() runs no relaxed instruction)
      const out = ok(process.execPath, ['--experimental-wasm-relaxed-simd', '--input-type=module', '-e', `
        import { createRuntime } from 'pldr-web';
        const rt = await createRuntime({ wasmUrl: new URL(${JSON.stringify(`file://${join(dist, file)}`)}) });
        console.log(rt.readCString(rt.x.pldr_version()));`], { cwd: project });
      assert.equal(out.stdout.trim(), PKG.version, `pldr_version() of dist/${file}`);
    }
  });

  test('Node imports the package by name; a greedy generation equals the CLI\'s; every entry point resolves', () => {
    const out = ok(process.execPath, ['--input-type=module', '-e', `
      import { PLDR, PldrError, ERROR_CODES, DEFAULT_MODEL_URL } from 'pldr-web';
      import { PldrWorker } from 'pldr-web/worker';
      const engine = await PLDR.load(${JSON.stringify(MODEL_DIR)});
      const run = engine.generate(${JSON.stringify(PROMPT)}, { maxTokens: 16, temperature: 0 });
      const result = await run.result;
      const resolved = ['pldr-web', 'pldr-web/worker', 'pldr-web/pldr-chat', 'pldr-web/cli', 'pldr-web/dist/pldr.wasm']
        .map((s) => import.meta.resolve(s));
      console.log(JSON.stringify({ text: result.text, ids: result.ids, finishReason: result.finishReason,
        worker: typeof PldrWorker, error: new PldrError('E_OPTION', 'x') instanceof Error, codes: Object.keys(ERROR_CODES).length,
        defaultModel: DEFAULT_MODEL_URL.href, resolved }));`], { cwd: project });
    const got = JSON.parse(out.stdout);
    assert.equal(got.text, expected.text, 'the text the repository\'s CLI generates');
    const ids = expected.stop === 'eos' ? expected.ids.slice(0, -1) : expected.ids;
    assert.deepEqual(got.ids, ids);
    assert.equal(got.worker, 'function');
    assert.ok(got.error && got.codes > 10);
    const installed = `file://${project}/node_modules/`;
    assert.equal(got.defaultModel, `${installed}pldr-web-tiny/`, 'the default model is the pldr-web-tiny package beside pldr-web');
    assert.deepEqual(got.resolved, ['js/pldr.js', 'js/browser/worker-client.js', 'js/pldr-chat.js', 'js/cli.mjs', 'dist/pldr.wasm']
      .map((f) => `${installed}pldr-web/${f}`));
  });

  test('npx pldr --help, and pldr generate from the project (default model: the installed pldr-web-tiny)', () => {
    const help = ok('npx', ['--offline', '--no-install', 'pldr', '--help'], { cwd: project });
    assert.match(help.stdout, /usage: pldr <command>/);
    const bin = join(project, 'node_modules/.bin/pldr');
    const explicit = JSON.parse(ok(bin, [...GENERATE, '--model', MODEL_DIR], { cwd: project }).stdout);
    assert.deepEqual([explicit.text, explicit.ids], [expected.text, expected.ids]);
    const byDefault = JSON.parse(ok(bin, GENERATE, { cwd: project }).stdout);
    assert.deepEqual([byDefault.text, byDefault.ids], [expected.text, expected.ids], 'the default model is pldr-tiny');
  });

  test('types: consumer.ts type-checks against the shipped declarations; an API it does not match fails', { skip: skipUnlessCI(existsSync(TSC) ? false : 'typescript not installed (npm install)') }, () => {
    const dir = join(project, 'typed');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(ROOT, 'tests/types/consumer.ts'), join(dir, 'consumer.ts'));
    const tsconfig = (resolution) => ({ compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: resolution === 'bundler' ? 'esnext' : 'nodenext',
      moduleResolution: resolution, lib: ['es2022', 'dom', 'dom.iterable'], types: [], skipLibCheck: false }, files: ['consumer.ts'] });
    const check = (name) => run(TSC, ['-p', join(dir, name)], { cwd: dir });
    for (const resolution of ['nodenext', 'bundler']) {
      writeFileSync(join(dir, `tsconfig.${resolution}.json`), JSON.stringify(tsconfig(resolution)));
      const r = check(`tsconfig.${resolution}.json`);
      assert.equal(r.status, 0, `tsc (moduleResolution ${resolution}):\n${r.stdout}${r.stderr}`);
    }
    // a consumer that expects another API fails ...
    const source = readFileSync(join(dir, 'consumer.ts'), 'utf8');
    writeFileSync(join(dir, 'consumer.ts'), source.replace('done.finishReason;', 'done.finishedBecause;'));
    let r = check('tsconfig.nodenext.json');
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /finishedBecause/);
    // ... and so does the real consumer once the declarations change under it (respond renamed)
    writeFileSync(join(dir, 'consumer.ts'), source);
    const engineTypes = join(project, 'node_modules/pldr-web/types/generation/engine.d.ts');
    const declarations = readFileSync(engineTypes, 'utf8');
    try {
      writeFileSync(engineTypes, declarations.replace(/\brespond\(/g, 'reply('));
      r = check('tsconfig.nodenext.json');
      assert.notEqual(r.status, 0);
      assert.match(r.stdout, /Property 'respond' does not exist/);
    } finally {
      writeFileSync(engineTypes, declarations);
    }
  });

  test('npm install -g: pldr runs; the default model beside it, or downloaded once when it is not installed', async () => {
    // with pldr-web-tiny installed globally too: found as a sibling package
    const both = join(work, 'global-both');
    installOffline(work, [packed.runtime.file, packed.model.file], ['-g', '--prefix', both]);
    const pldr = join(both, 'bin/pldr');
    assert.match(ok(pldr, ['--help']).stdout, /usage: pldr <command>/);
    const local = JSON.parse(ok(pldr, GENERATE, { cwd: work }).stdout);
    assert.deepEqual([local.text, local.ids], [expected.text, expected.ids]);

    // pldr-web alone: the default model is downloaded from PLDR_DEFAULT_MODEL_URL (normally the npm CDN), once
    const alone = join(work, 'global-alone');
    installOffline(work, [packed.runtime.file], ['-g', '--prefix', alone]);
    const models = await startModelServer(MODEL_DIR);
    try {
      const env = { ...process.env, PLDR_DEFAULT_MODEL_URL: models.url, XDG_CACHE_HOME: join(work, 'cache'), PLDR_CACHE_DIR: '' };
      const first = await runAsync(join(alone, 'bin/pldr'), GENERATE, { cwd: work, env });
      assert.equal(first.status, 0, first.stderr);
      assert.deepEqual(JSON.parse(first.stdout).ids, expected.ids);
      assert.match(first.stderr, /default model \(pldr-web-tiny\) is not installed: downloading it once/);
      assert.ok(models.requests.some((r) => r.file.endsWith('.safetensors') && r.method === 'GET'), 'the shards were downloaded');
      assert.ok(existsSync(join(work, 'cache/pldr-web')), 'into $XDG_CACHE_HOME/pldr-web');
      const mark = models.requests.length;
      const second = await runAsync(join(alone, 'bin/pldr'), GENERATE, { cwd: work, env });
      assert.equal(second.status, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout).ids, expected.ids);
      assert.deepEqual(models.requests.slice(mark).filter((r) => r.method === 'GET' && r.file.endsWith('.safetensors')), [],
        'the second run reads the shards from the cache');
      assert.doesNotMatch(second.stderr, /downloading it once/);
    } finally {
      await models.close();
    }
  });

  test('a static page importing <pldr-chat> from node_modules answers in the browser', { skip: skipUnlessCI(engineMissing('chromium')) }, async () => {
    writeFileSync(join(project, 'index.html'), `<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module" src="./node_modules/pldr-web/js/pldr-chat.js"></script>
<pldr-chat temperature="0" max-tokens="16" mode="complete"></pldr-chat>\n`);
    const server = await startStaticServer({ root: project });
    const b = await launch('chromium');
    try {
      await b.goto(server.url);
      const state = await b.waitFor(() => ['ready', 'error'].includes(document.querySelector('pldr-chat')?.dataset.state ?? '')
        && document.querySelector('pldr-chat')?.dataset.state, null, { timeout: 90_000, what: 'the element to load' });
      assert.equal(state, 'ready', b.log());
      const reply = await b.evaluate((p) => /** @type {any} */ (document.querySelector('pldr-chat')).ask(p), PROMPT);
      assert.equal(reply, expected.text, 'the element continues the prompt as the CLI does');
      assert.ok(server.requests.some((r) => r.path === '/node_modules/pldr-web-tiny/model-00001-of-00004.safetensors'),
        'the default model: node_modules/pldr-web-tiny/');
      assert.ok(server.requests.some((r) => /^\/node_modules\/pldr-web\/dist\/pldr(-relaxed|-threads|-threads-relaxed)?\.wasm$/.test(r.path)), 'the wasm from node_modules');
      await b.screenshot('package-page');
    } finally {
      await b.close();
      await server.close();
    }
  });
});
