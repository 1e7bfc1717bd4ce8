// Packaging and loading for the web: the model bundles for a browser with plain esbuild (no error, no warning, no
// node: module), the browser variants of `#fs` say what to use instead, and fromPretrained / AutoModel /
// AutoTokenizer load the same thing from a path, a URL (Range requests for safetensors) and a Map of files.
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { build as viteBuild, createLogger } from 'vite';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AutoModel, NemotronForCausalLM, NemotronForSequenceClassification } from '@tensorzoo/nemotron';
import { AutoTokenizer, type LoadProgress } from '@tensorzoo/tokenizer';
import type { Module } from '@tensorzoo/nn';
import { serveStatic, type StaticServer } from '../scripts/static-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'nemotron');
const SHIPPED = join(ROOT, 'models', 'kjv-nemotron-mini');

/** Every file of a folder as a Map of name -> bytes (what a page gets from a FileList). */
function filesOf(dir: string): Map<string, Uint8Array<ArrayBuffer>> {
  return new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

function weights(m: Module): Map<string, number[]> {
  return new Map([...m.stateDict()].map(([k, t]) => [k, Array.from(t.to('float32').dataSync())]));
}

describe('bundling for a browser', () => {
  it('esbuild (platform browser, format esm) bundles the model and tokenizer with no error, no warning and no node: module', async () => {
    const result = await build({
      stdin: { contents: "export { NemotronForCausalLM } from '@tensorzoo/nemotron'; export { AutoTokenizer } from '@tensorzoo/tokenizer';", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).toContain('a browser has no file system');
    expect(code).not.toMatch(/(import\(|from\s*|require\()["']node:/);
  });

  it('Vite builds it for the web with nothing externalized and no warning', async () => {
    const logged: string[] = [];
    const logger = createLogger('warn', { allowClearScreen: false });
    logger.warn = (msg) => void logged.push(msg);
    logger.warnOnce = (msg) => void logged.push(msg);
    logger.error = (msg) => void logged.push(msg);
    const entry = join(ROOT, 'examples', 'browser', 'main.ts');
    const out = await viteBuild({
      root: ROOT,
      configFile: false,
      customLogger: logger,
      build: { write: false, lib: { entry, formats: ['es'], fileName: 'demo' }, minify: false },
    });
    const chunks = (Array.isArray(out) ? out : [out]).flatMap((o) => ('output' in o ? o.output : []));
    const code = chunks.map((c) => ('code' in c ? c.code : '')).join('\n');
    expect(logged).toEqual([]);
    // Vite replaces a node: module it meets with a '__vite-browser-external' stub (warning only outside a test run).
    expect(code).not.toContain('browser-external');
    expect(code).toContain('a browser has no file system');
    expect(code).not.toMatch(/(import\(|from\s*|require\()["']node:/);
  });

  it('the browser variants of #fs fail with what to use instead', async () => {
    const tok = await import('../packages/tokenizer/dist/loader-browser.js');
    await expect(tok.readFileBytes('m/tokenizer.model')).rejects.toThrow(/cannot read 'm\/tokenizer.model': a browser has no file system; pass a URL .* or the files themselves/);
    const st = await import('../packages/tensor/dist/safetensors/browser.js');
    await expect(st.nodeFs()).rejects.toThrow(/a file path needs Node.js; in a browser pass the bytes/);
    const nm = await import('../packages/nemotron/dist/files-browser.js');
    await expect(nm.makeDir('out')).rejects.toThrow(/savePretrained\(dir\) writes files and needs Node.js; in a browser, .*serializeSafetensors/);
  });
});

describe('fromPretrained from a path, a URL and a set of files', () => {
  let server: StaticServer;
  beforeAll(async () => {
    server = await serveStatic({ '/fixtures/': FIXTURES, '/models/': join(ROOT, 'models') });
  });
  afterAll(() => server?.close());

  it('loads the same weights and generation config from all three; safetensors over HTTP by Range, tensor by tensor', async () => {
    const dir = join(FIXTURES, 'causal_lm_generate');
    const fromPath = await NemotronForCausalLM.fromPretrained(dir);
    server.requests.length = 0;
    const fromUrl = await NemotronForCausalLM.fromPretrained(`${server.url}fixtures/causal_lm_generate`);
    const fromFiles = await NemotronForCausalLM.fromPretrained(filesOf(dir));
    const want = weights(fromPath);
    expect(weights(fromUrl)).toEqual(want);
    expect(weights(fromFiles)).toEqual(want);
    expect(fromUrl.generationConfig).toEqual(fromPath.generationConfig);
    expect(fromFiles.generationConfig).toEqual(fromPath.generationConfig);
    const st = server.requests.filter((r) => r.path.endsWith('model.safetensors') && r.method === 'GET');
    expect(st.length).toBeGreaterThan(2);
    expect(st.every((r) => r.range !== null && /^bytes=\d+-\d+$/.test(r.range))).toBe(true);
  });

  it('works with a plain server too: no HEAD, no Range (files read whole, up to a limit)', async () => {
    const dir = join(FIXTURES, 'causal_lm_generate');
    const plain = createServer((req, res) => {
      if (req.method !== 'GET') return void res.writeHead(405).end();
      let body: Buffer;
      try {
        body = readFileSync(join(dir, req.url!.split('/').pop()!));
      } catch {
        return void res.writeHead(404).end();
      }
      res.writeHead(200).end(body);
    });
    await new Promise<void>((ok) => plain.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/m/`;
      expect(weights(await NemotronForCausalLM.fromPretrained(url))).toEqual(weights(await NemotronForCausalLM.fromPretrained(dir)));
    } finally {
      plain.closeAllConnections();
      plain.close();
    }
  });

  it('reads sharded checkpoints and AutoModel from a URL and from files', async () => {
    const dir = join(FIXTURES, 'sharded_checkpoint');
    const want = weights(await AutoModel.fromPretrained(dir));
    expect(weights(await AutoModel.fromPretrained(`${server.url}fixtures/sharded_checkpoint/`))).toEqual(want);
    expect(weights(await AutoModel.fromPretrained(filesOf(dir)))).toEqual(want);
    // What an <input type="file" multiple> gives: File objects in a list.
    const picked = Array.from(filesOf(dir), ([name, bytes]) => new File([bytes], name));
    expect(weights(await AutoModel.fromPretrained(picked))).toEqual(want);
  });

  it('AutoTokenizer encodes the same from a path, a URL and files', async () => {
    const text = 'In the beginning God created the heaven and the earth.';
    const want = (await AutoTokenizer.fromPretrained(SHIPPED)).encode(text);
    expect(want.length).toBeGreaterThan(5);
    expect((await AutoTokenizer.fromPretrained(`${server.url}models/kjv-nemotron-mini`)).encode(text)).toEqual(want);
    expect((await AutoTokenizer.fromPretrained(new URL(`${server.url}models/kjv-nemotron-mini/`))).encode(text)).toEqual(want);
    expect((await AutoTokenizer.fromPretrained(filesOf(SHIPPED))).encode(text)).toEqual(want);
  });

  it('reports progress in bytes, per file and in total, ending at the sizes of the files read', async () => {
    const events: LoadProgress[] = [];
    await NemotronForCausalLM.fromPretrained(`${server.url}models/kjv-nemotron-mini`, { onProgress: (p) => events.push({ ...p }) });
    const last = events.at(-1)!;
    const size = (f: string) => readFileSync(join(SHIPPED, f)).byteLength;
    expect(last.total).toBe(size('config.json') + size('model.safetensors') + size('generation_config.json'));
    expect(last.loaded).toBe(last.total);
    const st = events.filter((e) => e.file === 'model.safetensors');
    expect(st.length).toBeGreaterThan(10);
    expect(st.at(-1)!.fileLoaded).toBe(size('model.safetensors'));
    expect(st.every((e, i) => e.fileTotal === size('model.safetensors') && (i === 0 || e.fileLoaded > st[i - 1]!.fileLoaded))).toBe(true);
  });

  it('cache (a browser option): a clear error where there is no Cache API, bad values refused, paths and files unaffected', async () => {
    // Node has no Cache API; the Chromium test (browser.test.ts) checks the cache itself.
    const url = `${server.url}models/kjv-nemotron-mini`;
    await expect(NemotronForCausalLM.fromPretrained(url, { cache: true })).rejects.toThrow(/the cache option needs the Cache API .*Node has none/);
    await expect(AutoTokenizer.fromPretrained(url, { cache: 'mine' })).rejects.toThrow(/the cache option needs the Cache API/);
    await expect(AutoModel.fromPretrained(url, { cache: '' as never })).rejects.toThrow(/cache must be true, false or a Cache API storage name/);
    // A page without the Cache API (not a secure context: plain http on another host) is told why.
    vi.stubGlobal('location', { href: 'http://192.0.2.1/app/' });
    try {
      await expect(AutoTokenizer.fromPretrained(url, { cache: true })).rejects.toThrow(/this page has none: browsers offer it only in a secure context \(https:\/\/, or http:\/\/localhost/);
    } finally {
      vi.unstubAllGlobals();
    }
    const dir = join(FIXTURES, 'causal_lm_generate');
    const want = weights(await NemotronForCausalLM.fromPretrained(dir));
    expect(weights(await NemotronForCausalLM.fromPretrained(dir, { cache: true }))).toEqual(want);
    expect(weights(await NemotronForCausalLM.fromPretrained(filesOf(dir), { cache: true }))).toEqual(want);
  });

  it('fails the same way everywhere: a missing file, a wrong checkpoint, an unknown input', async () => {
    const missing = /cannot read .*config\.json: no such file/;
    await expect(NemotronForCausalLM.fromPretrained(join(FIXTURES, 'nope'))).rejects.toThrow(missing);
    await expect(NemotronForCausalLM.fromPretrained(`${server.url}fixtures/nope`)).rejects.toThrow(missing);
    await expect(NemotronForCausalLM.fromPretrained(new Map([['model.safetensors', new Uint8Array(8)]]))).rejects.toThrow(missing);
    await expect(AutoTokenizer.fromPretrained(`${server.url}fixtures/causal_lm_generate`)).rejects.toThrow(/no tokenizer.json or tokenizer.model in http:/);
    // A config that does not fit the weights names the same mismatch from every source.
    const dir = join(FIXTURES, 'seq_cls_single_label');
    const errs = await Promise.all(
      [dir, `${server.url}fixtures/seq_cls_single_label`, filesOf(dir)].map((s) =>
        NemotronForSequenceClassification.fromPretrained(s, { config: { intermediate_size: 48 } }).then(() => '', (e: Error) => e.message.split('\n').slice(1).join('\n')),
      ),
    );
    expect(errs[0]).toMatch(/wrong shapes: .*mlp/);
    expect(new Set(errs).size).toBe(1);
    expect(await NemotronForSequenceClassification.fromPretrained(filesOf(dir))).toBeTruthy();
    await expect(NemotronForCausalLM.fromPretrained(42 as never)).rejects.toThrow(/expected a folder path \(Node\), a URL, a Map/);
    await expect(NemotronForCausalLM.fromPretrained(new Map([['a/config.json', new Uint8Array(1)], ['b/config.json', new Uint8Array(1)]]))).rejects.toThrow(/two of the given files are named config.json/);
  });
});
