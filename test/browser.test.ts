// The demo page in a real browser: Debian's Chromium, headless, driven by playwright-core. The page bundles with no
// warning, loads the shipped model from its own origin, and its greedy generation equals Node's token for token on
// the CPU (on worker threads when cross-origin isolated, one thread with one notice otherwise) and on WebGPU when
// Chromium offers an adapter (SwiftShader with --enable-unsafe-webgpu). Also: memory() flat over generations, the
// same tokens from a module Worker, a reload served by the Cache API, decode speed against Node's, and a head trained
// in the page reaching Node's accuracy. Saves a screenshot (text and training plot) in test-results/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoTokenizer, NemotronForCausalLM } from '@tensorzoo/nemotron';
import { getNumThreads, setNumThreads, type Device, type MemoryInfo } from '@tensorzoo/tensor';
import { buildDemo, serveDemo } from '../scripts/browser.js';
import type { StaticServer } from '../scripts/static-server.js';
import type { DemoInfo, GenerateRequest } from '../examples/browser/main.js';
import type { WorkerReply, WorkerRequest } from '../examples/browser/worker.js';
import { trainTestamentsHead, type TrainRequest, type TrainResult } from '../examples/browser/train.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHIPPED = join(ROOT, 'models', 'kjv-nemotron-mini');
const PROMPT = 'And God said';
const NEW_TOKENS = 24;
const GPU_TOKENS = 6;
/** Speed: new tokens per round, warm-up rounds and measured rounds per side. */
const SPEED_TOKENS = 64;
const SPEED_WARMUP = 4;
const SPEED_ROUNDS = 7;
/**
 * The page decodes within this factor of Node's speed (the browser issue's target). Warm, on a quiet machine, the
 * page ran 1.4x to 1.8x slower until fresh ArrayBuffers, which cost Chromium 20 to 46 us each from 4 to 64 KiB, were
 * taken off the decode step (tiny arrays from slabs, 64 KiB slabs, arrays over 4 KiB reused, no extra logits copies):
 * 0.91 to 1.06 since, as medians of paired rounds. Earlier runs of this test passed on cold first rounds.
 */
const SPEED_BOUND = 1.25;
/** A short training run (the backbone reads 200 verses once, 30 epochs of the head): about 15 s on 2 cores. */
const TRAIN: TrainRequest = { examples: 200, epochs: 30, lr: 0.01, batchSize: 16, maxLength: 48, valSplit: 0.2, seed: 0, patience: 1000 };

const required = process.env.TENSORZOO_REQUIRE_BROWSER === '1';
const present = existsSync(CHROMIUM);
if (!present && !required) console.log(`browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium; TENSORZOO_REQUIRE_BROWSER=1 makes this a failure)`);

interface DemoWindow {
  tensorzooDemo: {
    ready: Promise<DemoInfo>;
    generate(req: GenerateRequest): Promise<{ ids: number[]; tokensPerSecond: number }>;
    train(req: TrainRequest): Promise<TrainResult>;
    memory(device: Device): MemoryInfo;
  };
}

/** Bytes asked for by a Range header 'bytes=a-b' (a request without one: the whole file is not expected here). */
function rangeLength(range: string | null): number {
  const m = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
  if (!m) throw new Error(`expected a Range request for weights, got ${range}`);
  return Number(m[2]) - Number(m[1]) + 1;
}

/** Node's greedy continuation of PROMPT: the reference the page must match. */
async function nodeGreedy(): Promise<number[]> {
  const [model, tok] = await Promise.all([NemotronForCausalLM.fromPretrained(SHIPPED), AutoTokenizer.fromPretrained(SHIPPED)]);
  const prompt = tok.encode(PROMPT);
  const out = await model.generate([prompt], { maxNewTokens: NEW_TOKENS, doSample: false });
  return Array.from(out.to('int32').dataSync()).slice(prompt.length);
}

describe.runIf(present || required)('the demo page in headless Chromium', () => {
  let context: BrowserContext | null = null;
  let profile = '';
  let isolated: StaticServer | null = null;
  let plain: StaticServer | null = null;
  let expected: number[] = [];

  beforeAll(async () => {
    if (!present) throw new Error(`TENSORZOO_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (Debian)`);
    profile = mkdtempSync(join(tmpdir(), 'tensorzoo-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu', '--js-flags=--expose-gc'],
    });
    expected = await nodeGreedy();
    const built = await buildDemo();
    if (built.errors.length) throw new Error(`the demo does not build: ${built.errors.map((e) => e.text).join('; ')}`);
    isolated = await serveDemo({ port: 0, isolate: true });
    plain = await serveDemo({ port: 0, isolate: false });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await isolated?.close();
    await plain?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function open(server: StaticServer): Promise<{ page: Page; info: DemoInfo; console: string[] }> {
    const page = await context!.newPage();
    const lines: string[] = [];
    page.on('console', (m) => lines.push(m.text()));
    page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
    await page.goto(server.url);
    const info = await page.evaluate(() => (globalThis as unknown as DemoWindow).tensorzooDemo.ready);
    return { page, info, console: lines };
  }

  const generateIn = (page: Page, req: GenerateRequest) => page.evaluate((r) => (globalThis as unknown as DemoWindow).tensorzooDemo.generate(r), req);

  it('the demo bundles with esbuild with no error and no warning', async () => {
    const { errors, warnings, bytes, workerBytes } = await buildDemo();
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    console.log(`bundles, minified: the demo page ${(bytes / 1024).toFixed(0)} KiB, the worker that generates text ${(workerBytes / 1024).toFixed(0)} KiB`);
  }, 60_000);

  it('cross-origin isolated: greedy generation equals Node token for token, on CPU worker threads and on WebGPU', async () => {
    const { page, info, console: lines } = await open(isolated!);
    expect(info.isolated).toBe(true);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    if (cores > 1) expect(info.threads).toBeGreaterThan(1);
    const cpu = await generateIn(page, { prompt: PROMPT, maxNewTokens: NEW_TOKENS, temperature: 0, device: 'cpu' });
    expect(cpu.ids).toEqual(expected);
    console.log(`page, cpu (${info.threads} threads): ${cpu.tokensPerSecond.toFixed(1)} tokens/s`);
    if (info.webgpu === null) {
      // SwiftShader runs WebGPU on the CPU, slowly: a prefix of the greedy continuation is enough to compare.
      const gpu = await generateIn(page, { prompt: PROMPT, maxNewTokens: GPU_TOKENS, temperature: 0, device: 'webgpu' });
      expect(gpu.ids).toEqual(expected.slice(0, GPU_TOKENS));
      console.log(`page, webgpu: ${gpu.tokensPerSecond.toFixed(1)} tokens/s`);
    } else if (process.env.TENSORZOO_REQUIRE_WEBGPU === '1') {
      throw new Error(`TENSORZOO_REQUIRE_WEBGPU=1 but the page found no WebGPU adapter: ${info.webgpu}`);
    } else {
      console.log(`page, webgpu skipped: ${info.webgpu}`);
    }
    expect(lines.filter((l) => l.startsWith('pageerror'))).toEqual([]);
    await page.close();
  }, 240_000);

  it('not isolated: one thread, one console notice saying why, the same tokens', async () => {
    const { page, info, console: lines } = await open(plain!);
    expect(info.isolated).toBe(false);
    expect(info.threads).toBe(1);
    const cpu = await generateIn(page, { prompt: PROMPT, maxNewTokens: NEW_TOKENS, temperature: 0, device: 'cpu' });
    expect(cpu.ids).toEqual(expected);
    const notices = lines.filter((l) => l.includes('tensorzoo: the CPU backend runs on one thread'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/not cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
    await page.close();
  }, 240_000);

  it('memory() stays flat over repeated generations after a warm-up, on the CPU and on WebGPU', async () => {
    const { page, info } = await open(isolated!);
    // What the device holds: live tensors and bytes. A tensor dropped without dispose() counts until it is collected,
    // so garbage from loading and the warm-up is collected before the first reading (--expose-gc), never after.
    const held = (device: Device, collect: boolean) =>
      page.evaluate(async ([d, gc]) => {
        if (gc) (globalThis as { gc?: () => void }).gc!();
        await new Promise((r) => setTimeout(r, 0));
        return (globalThis as unknown as DemoWindow).tensorzooDemo.memory(d);
      }, [device, collect] as const);
    const devices: [Device, number, number][] = [['cpu', 16, 3]];
    if (info.webgpu === null) devices.push(['webgpu', GPU_TOKENS, 2]);
    for (const [device, maxNewTokens, rounds] of devices) {
      const req: GenerateRequest = { prompt: PROMPT, maxNewTokens, temperature: 0, device };
      await generateIn(page, req); // warm-up: pipelines, pools, the weights' move to the device
      const before = await held(device, true);
      for (let i = 0; i < rounds; i++) expect((await generateIn(page, req)).ids).toEqual(expected.slice(0, maxNewTokens));
      const after = await held(device, false);
      console.log(`memory(${device}) after ${rounds} generations: ${after.numTensors} tensors, ${after.numBytes} bytes (before: ${before.numTensors}, ${before.numBytes})`);
      expect({ numTensors: after.numTensors, numBytes: after.numBytes }).toEqual({ numTensors: before.numTensors, numBytes: before.numBytes });
    }
    await page.close();
  }, 180_000);

  it('a dedicated module Worker generates the same greedy tokens, streaming them to the page', async () => {
    const { page } = await open(isolated!);
    const reply = await page.evaluate(
      (req) =>
        new Promise<{ tokens: number[]; done: WorkerReply }>((resolve, reject) => {
          const worker = new Worker('dist/worker.js', { type: 'module' });
          const tokens: number[] = [];
          worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
          worker.onmessage = (e: MessageEvent<WorkerReply>) => {
            if (e.data.type === 'token') tokens.push(e.data.id);
            else if (e.data.type === 'error') reject(new Error(e.data.message));
            else {
              worker.terminate();
              resolve({ tokens, done: e.data });
            }
          };
          worker.postMessage({ ...req, model: new URL(req.model, location.href).href });
        }),
      { model: 'models/kjv-nemotron-mini/', prompt: PROMPT, maxNewTokens: NEW_TOKENS, temperature: 0 } satisfies WorkerRequest,
    );
    if (reply.done.type !== 'done') throw new Error('unreachable');
    expect(reply.done.ids).toEqual(expected);
    expect(reply.tokens).toEqual(expected);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    if (cores > 1) expect(reply.done.threads).toBeGreaterThan(1);
    console.log(`worker, cpu (${reply.done.threads} threads): ${reply.done.tokensPerSecond.toFixed(1)} tokens/s`);
    await page.close();
  }, 120_000);

  it(`speed: decode tokens/s in the page is within ${SPEED_BOUND}x of Node at the same thread count, both warm, measured in turn`, async () => {
    const { page, info } = await open(isolated!);
    const [model, tok] = await Promise.all([NemotronForCausalLM.fromPretrained(SHIPPED), AutoTokenizer.fromPretrained(SHIPPED)]);
    const prompt = tok.encode(PROMPT);
    // Node's decode speed measured as the page measures its own: tokens after the first over the time they took.
    const nodeRun = async () => {
      let first = 0;
      let n = 0;
      for await (const _ of model.stream([prompt], { maxNewTokens: SPEED_TOKENS, doSample: false })) if (n++ === 0) first = performance.now();
      return ((n - 1) * 1000) / (performance.now() - first);
    };
    const threads = getNumThreads();
    setNumThreads(info.threads);
    try {
      // both sides warm: V8 tiers the op layer up over the first rounds (a cold first round runs at a third of speed)
      for (let i = 0; i < SPEED_WARMUP; i++) {
        await nodeRun();
        await generateIn(page, { prompt: PROMPT, maxNewTokens: SPEED_TOKENS, temperature: 0, device: 'cpu' });
      }
      const node: number[] = [];
      const inPage: number[] = [];
      // Alternating rounds, so both sides see the same load from whatever else runs on the machine.
      for (let i = 0; i < SPEED_ROUNDS; i++) {
        node.push(await nodeRun());
        inPage.push((await generateIn(page, { prompt: PROMPT, maxNewTokens: SPEED_TOKENS, temperature: 0, device: 'cpu' })).tokensPerSecond);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
      // Rounds run in turn share whatever load the machine has (other test files use its cores meanwhile), so each
      // pair's ratio is taken and their median asserted.
      const pairedRatio = median(node.map((n, i) => n / inPage[i]!));
      console.log(`decode rounds, tokens/s: Node ${node.map((x) => x.toFixed(0)).join(' ')}; page ${inPage.map((x) => x.toFixed(0)).join(' ')}`);
      console.log(
        `decode speed, cpu on ${info.threads} threads, ${SPEED_ROUNDS} rounds of ${SPEED_TOKENS} tokens after ${SPEED_WARMUP} warm-up rounds: ` +
          `Node ${median(node).toFixed(1)} tokens/s, page ${median(inPage).toFixed(1)} tokens/s (medians); ` +
          `time per token, page / Node: ${(median(node) / median(inPage)).toFixed(2)} (medians), ${pairedRatio.toFixed(2)} (median of paired rounds)`,
      );
      expect(pairedRatio).toBeLessThanOrEqual(SPEED_BOUND);
    } finally {
      setNumThreads(threads);
      await page.close();
    }
  }, 120_000);

  it('cache: the first load fetches the model, a reload fetches nothing and generates the same tokens', async () => {
    // A server of its own is an origin of its own, so its Cache API storage starts empty.
    const server = await serveDemo({ port: 0, isolate: true });
    try {
      const modelGets = () => server.requests.filter((r) => r.path.startsWith('/models/'));
      const { page } = await open(server);
      const first = modelGets();
      const weightBytes = first.filter((r) => r.path.endsWith('.safetensors') && r.method === 'GET').reduce((n, r) => n + rangeLength(r.range), 0);
      expect(weightBytes).toBe(statSync(join(SHIPPED, 'model.safetensors')).size);
      const before = await generateIn(page, { prompt: PROMPT, maxNewTokens: NEW_TOKENS, temperature: 0, device: 'cpu' });
      server.requests.length = 0;
      await page.reload();
      await page.evaluate(() => (globalThis as unknown as DemoWindow).tensorzooDemo.ready);
      expect(server.requests.length).toBeGreaterThan(0); // the page itself is not cached: the reload did happen
      expect(modelGets()).toEqual([]);
      const after = await generateIn(page, { prompt: PROMPT, maxNewTokens: NEW_TOKENS, temperature: 0, device: 'cpu' });
      expect(before.ids).toEqual(expected);
      expect(after.ids).toEqual(expected);
      console.log(`cache: first load ${first.length} requests for the model (${weightBytes} weight bytes), reload 0`);
      await page.close();
    } finally {
      await server.close();
    }
  }, 120_000);

  it('the page streams greedy text when Generate is clicked, and trains the head to the accuracy Node reaches (screenshot in test-results/)', async () => {
    const { page } = await open(isolated!);
    const tok = await AutoTokenizer.fromPretrained(SHIPPED);
    const prompt = tok.encode(PROMPT);
    const want = tok.decode([...prompt, ...expected], { skipSpecialTokens: true }).slice(tok.decode(prompt, { skipSpecialTokens: true }).length);
    await page.fill('#prompt', PROMPT);
    await page.fill('#temperature', '0');
    await page.fill('#tokens', String(NEW_TOKENS));
    await page.click('#generate');
    await page.waitForFunction(() => /tokens\/s on cpu/.test(document.getElementById('stats')!.textContent ?? ''), null, { timeout: 120_000 });
    expect(await page.textContent('#output')).toBe(PROMPT + want);

    // The same training in Node and in the page (same seed, data, steps and thread count). Float results differ in
    // the last bits (validation loss about 1e-7 apart): accuracy may differ by one validation verse at most.
    const data = readFileSync(join(ROOT, 'examples', 'data', 'testaments.jsonl'), 'utf8');
    const node = await trainTestamentsHead(SHIPPED, data, TRAIN);
    const inPage = await page.evaluate((r) => (globalThis as unknown as DemoWindow).tensorzooDemo.train(r), TRAIN);
    console.log(`head: validation accuracy ${inPage.accuracy} in the page, ${node.accuracy} in Node (${node.nVal} verses; val loss ${inPage.valLoss} vs ${node.valLoss})`);
    expect(inPage.history).toHaveLength(TRAIN.epochs);
    expect(inPage.nVal).toBe(node.nVal);
    expect(Math.abs(inPage.accuracy - node.accuracy)).toBeLessThanOrEqual(1 / node.nVal + 1e-6);
    expect(Math.abs(inPage.valLoss - node.valLoss)).toBeLessThan(1e-3);
    expect(node.accuracy).toBeGreaterThanOrEqual(0.75); // the head learned something (chance is about 0.5)
    expect(await page.textContent('#train-status')).toMatch(/^validation accuracy \d+\.\d% on \d+ held-out verses/);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results', 'browser-demo.png'), fullPage: true });
    await page.close();
  }, 300_000);
});
