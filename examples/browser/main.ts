// The browser demo: loads the shipped model from this page's origin with one call each for model and tokenizer
// (kept in the Cache API, so a reload fetches nothing; `?cache=off` turns that off), and streams generation on the
// CPU or WebGPU device. `pnpm browser` bundles this file with esbuild and serves it.
// window.tensorzooDemo is what test/browser.test.ts drives.
import { AutoTokenizer, NemotronForCausalLM, TextStream, type HeadEpoch, type LoadProgress } from '@tensorzoo/nemotron';
import { initWebGPU, memory, startThreads, type Device, type MemoryInfo } from '@tensorzoo/tensor';
import { drawTrainingPlot } from './plot.js';
import { trainTestamentsHead, type TrainRequest, type TrainResult } from './train.js';

const MODEL = 'models/kjv-nemotron-mini/';
const DATA = 'data/testaments.jsonl';
const CACHE = new URLSearchParams(location.search).get('cache') !== 'off';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLSpanElement>('status');
const progress = $<HTMLProgressElement>('progress');
const output = $<HTMLDivElement>('output');
const stats = $<HTMLParagraphElement>('stats');
const button = $<HTMLButtonElement>('generate');
const deviceSelect = $<HTMLSelectElement>('device');
const trainButton = $<HTMLButtonElement>('train');
const trainStatus = $<HTMLParagraphElement>('train-status');
const plot = $<HTMLCanvasElement>('plot');

/** What the page found: CPU threads in use, whether it is cross-origin isolated, and why WebGPU is missing (if so). */
export interface DemoInfo {
  threads: number;
  isolated: boolean;
  webgpu: string | null;
}

/** Options of one generation. */
export interface GenerateRequest {
  prompt: string;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  device: Device;
  seed?: number;
}

const showProgress = (p: LoadProgress) => {
  progress.max = p.total;
  progress.value = p.loaded;
  status.textContent = `loading ${p.file}: ${(p.loaded / 2 ** 20).toFixed(1)} of ${(p.total / 2 ** 20).toFixed(1)} MiB`;
};

async function setup() {
  const threads = await startThreads();
  const [model, tokenizer] = await Promise.all([NemotronForCausalLM.fromPretrained(MODEL, { onProgress: showProgress, cache: CACHE }), AutoTokenizer.fromPretrained(MODEL, { cache: CACHE })]);
  let webgpu: string | null = null;
  try {
    await initWebGPU();
  } catch (e) {
    webgpu = (e as Error).message;
    deviceSelect.querySelector<HTMLOptionElement>('option[value=webgpu]')!.disabled = true;
  }
  const info: DemoInfo = { threads, isolated: globalThis.crossOriginIsolated === true, webgpu };
  status.textContent = `ready: CPU on ${threads} thread${threads > 1 ? 's' : ''}${info.isolated ? '' : ' (page not cross-origin isolated)'}; WebGPU ${webgpu ? 'unavailable' : 'available'}`;
  progress.value = progress.max;
  return { model, tokenizer, info };
}

const ready = setup();

let busy: Promise<unknown> = Promise.resolve();
let device: Device = 'cpu';

/** Streams a continuation, calling onText with the text so far; resolves with the new token ids and tokens/s. */
async function generate(req: GenerateRequest, onText: (text: string) => void = () => undefined): Promise<{ ids: number[]; tokensPerSecond: number }> {
  const { model, tokenizer } = await ready;
  if (req.device !== device) {
    model.to(req.device);
    device = req.device;
  }
  const prompt = tokenizer.encode(req.prompt);
  // the text each token adds, decoded from a window of a few ids (decoding everything each time is O(n^2))
  const stream = new TextStream({ decode: (x) => tokenizer.decode(x, { skipSpecialTokens: true }) }, prompt);
  let shown = '';
  const ids: number[] = [];
  const sample = req.temperature > 0;
  let first = 0;
  for await (const step of model.stream([prompt], { maxNewTokens: req.maxNewTokens, doSample: sample, temperature: sample ? req.temperature : 1, seed: req.seed })) {
    if (first === 0) first = performance.now();
    ids.push(step.tokens[0]!);
    shown += stream.push(step.tokens[0]!) + (step.stoppedBy ? stream.end() : ''); // the last step flushes a held-back byte
    onText(shown);
    if (step.finished[0]) break;
  }
  // Decode speed: tokens after the first (which also paid for the prompt) over the time they took.
  const tokensPerSecond = ids.length > 1 ? ((ids.length - 1) * 1000) / (performance.now() - first) : 0;
  return { ids, tokensPerSecond };
}

/** Runs one generation at a time (the model's KV cache and device are shared). */
function serialized<T>(f: () => Promise<T>): Promise<T> {
  const run = busy.then(f, f);
  busy = run.catch(() => undefined);
  return run;
}

// Lets the page paint between batches and epochs (a few dozen times a training run, so the 4 ms clamp is no cost).
const paint = () => new Promise<void>((r) => setTimeout(r, 0));

/** Trains the testaments head in the page (CPU), plotting each epoch; the model is loaded from the same origin. */
async function train(req: TrainRequest): Promise<TrainResult> {
  await ready;
  const r = await fetch(DATA);
  if (!r.ok) throw new Error(`cannot read ${DATA}: HTTP ${r.status}`);
  const jsonl = await r.text();
  const live: HeadEpoch[] = [];
  drawTrainingPlot(plot, live, req.epochs);
  const t0 = performance.now();
  const result = await trainTestamentsHead(MODEL, jsonl, { ...req, cache: CACHE }, {
    features: (done, total) => {
      trainStatus.textContent = `reading verses with the model: ${done} of ${total}`;
      return paint();
    },
    epoch: (e) => {
      live.push(e);
      drawTrainingPlot(plot, live, req.epochs);
      trainStatus.textContent = `epoch ${e.epoch + 1}: train loss ${e.loss.toFixed(3)}, validation loss ${e.valLoss.toFixed(3)}, accuracy ${(e.valScore * 100).toFixed(1)}%`;
      return paint();
    },
  });
  trainStatus.textContent = `validation accuracy ${(result.accuracy * 100).toFixed(1)}% on ${result.nVal} held-out verses (best epoch ${result.bestEpoch + 1}, ${result.nTrain} verses trained on, ${((performance.now() - t0) / 1000).toFixed(1)} s)`;
  return result;
}

trainButton.addEventListener('click', () => {
  const req: TrainRequest = {
    examples: Number($<HTMLInputElement>('train-examples').value),
    epochs: Number($<HTMLInputElement>('train-epochs').value),
    lr: Number($<HTMLInputElement>('train-lr').value),
    batchSize: 16,
    maxLength: 48,
    valSplit: 0.2,
    seed: 0,
    patience: 1000,
  };
  trainButton.disabled = true;
  serialized(() => train(req))
    .catch((e: Error) => (trainStatus.textContent = `error: ${e.message}`))
    .finally(() => (trainButton.disabled = false));
});

button.addEventListener('click', () => {
  const req: GenerateRequest = {
    prompt: $<HTMLTextAreaElement>('prompt').value,
    maxNewTokens: Number($<HTMLInputElement>('tokens').value),
    temperature: Number($<HTMLInputElement>('temperature').value),
    device: deviceSelect.value as Device,
  };
  button.disabled = true;
  output.innerHTML = '';
  const p = document.createElement('span');
  p.className = 'prompt';
  p.textContent = req.prompt;
  const cont = document.createElement('span');
  output.append(p, cont);
  serialized(() => generate(req, (text) => (cont.textContent = text)))
    .then(({ ids, tokensPerSecond }) => (stats.textContent = `${ids.length} tokens, ${tokensPerSecond.toFixed(1)} tokens/s on ${req.device}`))
    .catch((e: Error) => (stats.textContent = `error: ${e.message}`))
    .finally(() => (button.disabled = false));
});

ready.then(
  () => (button.disabled = trainButton.disabled = false),
  (e: Error) => (status.textContent = `failed to load: ${e.message}`),
);

const demo = {
  /** Resolves once model and tokenizer are loaded. */
  ready: ready.then(({ info }) => info),
  /** One generation, serialized with the button's. */
  generate: (req: GenerateRequest) => serialized(() => generate(req)),
  /** What a device holds now (live tensors and bytes, pools): for leak checks. */
  memory: (device: Device): MemoryInfo => memory(device),
  /** Trains the testaments head, plotting as it goes, serialized with generation. */
  train: (req: TrainRequest) => serialized(() => train(req)),
};
(globalThis as { tensorzooDemo?: typeof demo }).tensorzooDemo = demo;
