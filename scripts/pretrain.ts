// Pretrains the small Nemotron that ships with the repository (models/<name>/) with tensorzoo's own code:
// the corpus (scripts/prepare-corpus.sh: the King James Bible from Debian's bible-kjv) tokenized with our
// SentencePiece reader, packed into fixed-length sequences ("<s> verse </s> <s> verse </s> ..."), AdamW with
// linear warmup and cosine decay, gradient clipping, periodic held-out evaluation, resumable checkpoints, and at
// every checkpoint a complete Hugging Face folder (bfloat16 safetensors, tokenizer, loss curve PNG, model card).
//
//   npx tsx scripts/pretrain.ts [--steps 1200] [--minutes 50] [--resume] [--name kjv-nemotron-mini] ...
//
// Continued pretraining: `--init DIR` starts from a model folder (its config, weights and tokenizer) with a fresh
// optimizer and schedule; `--format passages` trains on whole chapters (train-passages.txt: "<s> verse\nverse\n...
// </s>", end-of-text only where a chapter ends) and measures held-out perplexity on valid.txt read as one plain
// multi-line text, window by window exactly as `tensorzoo eval --data` does.
//
// Reproducible: initial weights come from a seeded Generator and the batch of step s is a pure function of
// (seed, s), so a resumed run continues exactly where the checkpoint stopped.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Generator, loadSafetensors, noGrad, saveSafetensors, tensor, tidy, type Tensor } from '../packages/tensor/dist/index.js';
import { AdamW, LambdaLR, clipGradNorm_, init, saveTrainingState, loadTrainingState } from '../packages/nn/dist/index.js';
import { NemotronConfig, NemotronForCausalLM } from '../packages/nemotron/dist/index.js';
import { SentencePieceTokenizer } from '../packages/tokenizer/dist/index.js';
import { linePlot } from './png.js';

// ---------- options ----------
const argv = process.argv.slice(2);
function opt(name: string, def: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1]! : def;
}
const num = (name: string, def: number) => Number(opt(name, String(def)));
if (argv.includes('--help')) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).join('\n'));
  process.exit(0);
}
const NAME = opt('name', 'kjv-nemotron-mini');
const OUT = opt('out', join('models', NAME));
const DATA = opt('data', 'data/kjv');
/** A model folder to continue from (config, weights, tokenizer); empty: a fresh, seeded initialization. */
const INIT = opt('init', '');
/** verses: "<s> verse </s>" per line of train.txt; passages: "<s> chapter </s>" per chapter of train-passages.txt. */
const FORMAT = opt('format', 'verses');
if (FORMAT !== 'verses' && FORMAT !== 'passages') throw new Error(`--format must be verses or passages, got ${FORMAT}`);
const PASSAGES = FORMAT === 'passages';
const TOKENIZER = opt('tokenizer', INIT ? join(INIT, 'tokenizer.model') : 'data/tok/kjv.model');
const CKPT = opt('checkpoint', join('data', 'ckpt', `${NAME}.safetensors`));
const HIDDEN = num('hidden', 256);
const LAYERS = num('layers', 4);
const HEADS = num('heads', 4);
const KV_HEADS = num('kv-heads', 2);
const FF = num('ff', 1024);
const SEQ = num('seq', 128);
const BATCH = num('batch', 8);
const STEPS = num('steps', 1200);
const LR = num('lr', 2e-3);
const WARMUP = num('warmup', 60);
const MIN_LR_RATIO = num('min-lr-ratio', 0.1);
const WD = num('weight-decay', 0.1);
const CLIP = num('clip', 1.0);
const SEED = num('seed', 1234);
const EVAL_EVERY = num('eval-every', 100);
const CKPT_EVERY = num('checkpoint-every', 100);
const MINUTES = num('minutes', Infinity);
const LOG_EVERY = num('log-every', 10);
/** Checkpoint and exit after this step (to replay a run that was resumed with other options). */
const STOP_AT = num('stop-at', Infinity);
const RESUME = argv.includes('--resume') || argv.includes('--export-only');
/** Rewrites models/<name>/ from the checkpoint (card, plot, samples) without training. */
const EXPORT_ONLY = argv.includes('--export-only');
const BOS = 2, EOS = 3;

const t0 = performance.now();
const deadline = t0 + MINUTES * 60_000;
const log = (s: string) => process.stderr.write(s + '\n');

// ---------- data ----------
const sp = await SentencePieceTokenizer.fromFile(TOKENIZER);
const VOCAB = sp.vocabSize;
/** Each document (a line of verses format, an empty-line-separated chapter of passages format) as `<s> text </s>`. */
function tokenize(file: string, passages: boolean): Int32Array {
  const out: number[] = [];
  for (const doc of readFileSync(file, 'utf8').split(passages ? '\n\n' : '\n')) {
    if (!doc.trim()) continue;
    out.push(BOS, ...sp.encode(passages ? doc.replace(/\n+$/, '') : doc), EOS); // the file's final newline is no line
  }
  return Int32Array.from(out);
}
/** Consecutive SEQ-token sequences of a stream (the remainder dropped). */
function chunks(ids: Int32Array): Int32Array[] {
  return Array.from({ length: Math.floor(ids.length / SEQ) }, (_, c) => ids.subarray(c * SEQ, (c + 1) * SEQ));
}
/** A plain text as `tensorzoo eval` reads it: `<s>` + the whole file, in SEQ-token windows overlapping by one token. */
function textWindows(file: string): Int32Array[] {
  const ids = Int32Array.from([BOS, ...sp.encode(readFileSync(file, 'utf8'))]);
  const out: Int32Array[] = [];
  for (let start = 0; start < ids.length - 1; start += SEQ - 1) out.push(ids.subarray(start, Math.min(ids.length, start + SEQ)));
  return out;
}
const trainIds = tokenize(join(DATA, PASSAGES ? 'train-passages.txt' : 'train.txt'), PASSAGES);
const nChunks = Math.floor(trainIds.length / SEQ);
/** The held-out windows the run is scored on; with passages, the verse-format ones are kept for comparison. */
const verseWindows = chunks(tokenize(join(DATA, 'valid.txt'), false));
const validWindows = PASSAGES ? textWindows(join(DATA, 'valid.txt')) : verseWindows;
const validTargets = validWindows.reduce((a, w) => a + w.length - 1, 0);
log(`data (${FORMAT}): ${trainIds.length} train tokens (${nChunks} sequences of ${SEQ}), ${validTargets} held-out targets (${validWindows.length} windows), vocab ${VOCAB}, tokenized in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

/** mulberry32: a tiny seeded PRNG for the data order (independent of the tensor generator). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const perms = new Map<number, Uint32Array>();
function permutation(epoch: number): Uint32Array {
  let p = perms.get(epoch);
  if (!p) {
    const rand = mulberry32(SEED * 1000 + epoch);
    p = Uint32Array.from({ length: nChunks }, (_, i) => i);
    for (let i = nChunks - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    perms.set(epoch, p);
  }
  return p;
}
/** The batch of a step: sequences step*B ... step*B+B-1 of the seeded, per-epoch shuffled order. */
function batchAt(step: number): Tensor {
  const ids = new Int32Array(BATCH * SEQ);
  for (let b = 0; b < BATCH; b++) {
    const k = step * BATCH + b;
    const chunk = permutation(Math.floor(k / nChunks))[k % nChunks]!;
    ids.set(trainIds.subarray(chunk * SEQ, (chunk + 1) * SEQ), b * SEQ);
  }
  return tensor(ids, { dtype: 'int32', shape: [BATCH, SEQ] });
}

// ---------- model ----------
interface BaseRun { dir: string; step: number; tokens_seen: number; wall_seconds: number; heldout_perplexity: number; commands: string[] }
const config = INIT ? NemotronConfig.fromDict(JSON.parse(readFileSync(join(INIT, 'config.json'), 'utf8')) as Record<string, unknown>) : new NemotronConfig({
  architectures: ['NemotronForCausalLM'], vocab_size: VOCAB, hidden_size: HIDDEN, intermediate_size: FF, num_hidden_layers: LAYERS,
  num_attention_heads: HEADS, num_key_value_heads: KV_HEADS, head_dim: HIDDEN / HEADS, max_position_embeddings: 512,
  partial_rotary_factor: 0.5, rope_theta: 10000, norm_eps: 1e-5, hidden_act: 'relu2', initializer_range: 0.02,
  tie_word_embeddings: true, bos_token_id: BOS, eos_token_id: EOS, pad_token_id: 0, torch_dtype: 'bfloat16',
});
const gen = new Generator(SEED);
const model = new NemotronForCausalLM(config, { generator: gen });
/** The run `--init` continues, from its folder's training_metrics.json (for the card). */
let base: BaseRun | undefined;
if (INIT) {
  // float32 training copies of the folder's bfloat16 weights; the LM head is tied to the embeddings
  const loaded = model.loadStateDict(await loadSafetensors(join(INIT, 'model.safetensors')), { strict: false });
  const untied = loaded.missingKeys.filter((k) => !model.tiedKeys().includes(k));
  if (untied.length || loaded.unexpectedKeys.length) throw new Error(`--init ${INIT}: missing ${untied.join(', ') || 'none'}, unexpected ${loaded.unexpectedKeys.join(', ') || 'none'}`);
  const m = JSON.parse(readFileSync(join(INIT, 'training_metrics.json'), 'utf8')) as Omit<BaseRun, 'dir'>;
  base = { dir: INIT, step: m.step, tokens_seen: m.tokens_seen, wall_seconds: m.wall_seconds, heldout_perplexity: m.heldout_perplexity, commands: m.commands };
}
// GPT-2 style init: N(0, 0.02) everywhere, residual output projections scaled by 1/sqrt(2 * layers); the
// LayerNorm1P weights start at 0 (the layer scales by weight + 1).
if (!INIT) noGrad(() => {
  for (const [name, p] of model.namedParameters()) {
    if (name.endsWith('.bias')) init.zeros_(p);
    else if (name.includes('layernorm') || name.endsWith('norm.weight')) init.zeros_(p);
    else if (name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight')) init.normal_(p, 0, 0.02 / Math.sqrt(2 * LAYERS), gen);
    else init.normal_(p, 0, 0.02, gen);
  }
});
const params = [...model.parameters()];
const nParams = params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
const opt_ = new AdamW(params, { lr: LR, betas: [0.9, 0.95], eps: 1e-8, weightDecay: WD });
const lrLambda = (s: number) => {
  if (s < WARMUP) return (s + 1) / WARMUP;
  const progress = Math.min(1, (s - WARMUP) / Math.max(1, STEPS - WARMUP));
  return MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + Math.cos(Math.PI * progress));
};
const sched = new LambdaLR(opt_, lrLambda);
log(`model: ${(nParams / 1e6).toFixed(2)}M parameters (hidden ${config.hidden_size}, ${config.num_hidden_layers} layers, ${config.num_attention_heads} heads / ${config.num_key_value_heads} kv, ff ${config.intermediate_size}, vocab ${VOCAB}, tied embeddings)${base ? `, from ${INIT} (step ${base.step})` : ''}`);

interface History {
  step: number;
  wallSeconds: number;
  tokensSeen: number;
  train: [number, number][]; // [step, loss]
  eval: [number, number][]; // [step, held-out loss]
  commands: string[];
  /** The step at which each resumed command (commands[1..]) started. */
  resumedAt?: number[];
  /** The run this one continues (--init). */
  base?: BaseRun;
}
let hist: History = { step: 0, wallSeconds: 0, tokensSeen: 0, train: [], eval: [], commands: [], base };
if (RESUME && existsSync(CKPT)) {
  const extra = await loadTrainingState(CKPT, { model, optimizer: opt_, scheduler: sched });
  hist = extra.history as History;
  log(`resumed from ${CKPT} at step ${hist.step} (${hist.tokensSeen} tokens seen, ${(hist.wallSeconds / 60).toFixed(1)} min so far)`);
} else if (RESUME) log(`--resume: no checkpoint at ${CKPT}, starting fresh`);
if (EXPORT_ONLY) {
  if (!existsSync(CKPT)) throw new Error(`--export-only: no checkpoint at ${CKPT}`);
  // (runs from before resumedAt was recorded: --resumed-at 100,300 fills it in)
  if (argv.includes('--resumed-at')) hist.resumedAt = opt('resumed-at', '').split(',').map(Number);
} else {
  if (hist.commands.length > 0) (hist.resumedAt ??= []).push(hist.step);
  hist.commands.push(`npx tsx scripts/pretrain.ts ${argv.join(' ')}`.trim());
}
const wallAtStart = hist.wallSeconds;
const wall = () => wallAtStart + (performance.now() - t0) / 1000;

// ---------- evaluation ----------
/** Mean next-token loss over every target of the held-out windows (positions 1.. of each), batched by length. */
function evaluate(windows = validWindows): number {
  let total = 0, n = 0;
  for (let i = 0; i < windows.length;) {
    let rows = 1;
    while (rows < BATCH && i + rows < windows.length && windows[i + rows]!.length === windows[i]!.length) rows++;
    const len = windows[i]!.length;
    const flat = new Int32Array(rows * len);
    for (let r = 0; r < rows; r++) flat.set(windows[i + r]!, r * len);
    const ids = tensor(flat, { dtype: 'int32', shape: [rows, len] });
    total += tidy(() => noGrad(() => model.forward({ inputIds: ids, labels: ids }).loss!.item())) * rows * (len - 1);
    n += rows * (len - 1);
    i += rows;
  }
  return total / n;
}
/** The unigram baseline on the same held-out targets: train-split token frequencies with add-one smoothing. */
function unigramLoss(): number {
  const counts = new Float64Array(VOCAB);
  for (const id of trainIds) counts[id]! += 1;
  const denom = trainIds.length + VOCAB;
  let total = 0, n = 0;
  for (const w of validWindows) {
    for (let t = 1; t < w.length; t++) {
      total -= Math.log((counts[w[t]!]! + 1) / denom);
      n++;
    }
  }
  return total / n;
}
const UNIGRAM = unigramLoss();

const PROMPTS = ['And God said', 'In the beginning', 'The LORD is my shepherd', 'Jesus answered and said unto them', 'And it came to pass'];
async function samples(): Promise<{ prompt: string; greedy: string; sampled: string }[]> {
  model.eval();
  const out = [];
  for (const prompt of PROMPTS) {
    const ids = [sp.encode(prompt, { addBos: true })];
    const cont = async (o: object) => {
      const seq = (await model.generate(ids, { maxNewTokens: 48, eosTokenId: EOS, ...o })).tolist() as number[][];
      return sp.decode(seq[0]!.filter((t) => t > 3)); // prompt + continuation, decoded together (spaces kept)
    };
    out.push({ prompt, greedy: await cont({ doSample: false }), sampled: await cont({ doSample: true, temperature: 0.8, topK: 40, seed: 1 }) });
  }
  model.train();
  return out;
}
/** New tokens before `</s>` for each prompt under `tensorzoo generate`'s defaults (60 tokens, T 0.8, top-k 40, top-p 0.95, seed 0). */
async function quickstartLengths(): Promise<Record<string, number>> {
  model.eval();
  const out: Record<string, number> = {};
  for (const prompt of ['And God said', 'Jesus wept.', ...PROMPTS.slice(1)]) {
    const ids = sp.encode(prompt, { addBos: true });
    const seq = ((await model.generate([ids], { maxNewTokens: 60, doSample: true, temperature: 0.8, topK: 40, topP: 0.95, seed: 0, eosTokenId: EOS })).tolist() as number[][])[0]!;
    const fresh = seq.slice(ids.length);
    out[prompt] = fresh.includes(EOS) ? fresh.indexOf(EOS) : fresh.length;
  }
  model.train();
  return out;
}

// ---------- saving ----------
function writeAtomic(path: string, data: string | Uint8Array): void {
  writeFileSync(path + '.tmp', data);
  renameSync(path + '.tmp', path);
}
const TOKENIZER_CONFIG = {
  add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>',
  clean_up_tokenization_spaces: false, legacy: false, model_max_length: 512, sp_model_kwargs: {}, tokenizer_class: 'LlamaTokenizer',
  added_tokens_decoder: Object.fromEntries(['<pad>', '<unk>', '<s>', '</s>'].map((c, i) => [String(i), { content: c, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
};
/** The held-out text shipped in the folder (passages format). */
const HELDOUT = 'heldout.txt';
const SPECIAL_TOKENS_MAP = { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' };
const SPM_COMMAND = `spm_train --input=data/kjv/train.txt --model_prefix=data/tok/kjv --model_type=bpe --vocab_size=${VOCAB} --character_coverage=1.0 --byte_fallback=true --split_digits=true --normalization_rule_name=identity --pad_id=0 --unk_id=1 --bos_id=2 --eos_id=3 --pad_piece='<pad>' --unk_piece='<unk>' --bos_piece='<s>' --eos_piece='</s>' --num_threads=2 --random_seed=1 --minloglevel=1`;

async function saveModelFolder(final: boolean): Promise<void> {
  const tStart = performance.now();
  mkdirSync(OUT, { recursive: true });
  const tensors = new Map<string, Tensor>();
  noGrad(() => {
    for (const [k, v] of model.stateDict()) if (!model.tiedKeys().includes(k)) tensors.set(k, v.detach().to('bfloat16'));
  });
  await saveSafetensors(join(OUT, 'model.safetensors.tmp'), tensors, { format: 'pt' });
  renameSync(join(OUT, 'model.safetensors.tmp'), join(OUT, 'model.safetensors'));
  const cfg = { ...config.toDict(), architectures: ['NemotronForCausalLM'], torch_dtype: 'bfloat16' };
  writeAtomic(join(OUT, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const genCfg = { bos_token_id: BOS, eos_token_id: EOS, pad_token_id: 0, do_sample: true, temperature: 0.8, top_k: 40, top_p: 0.95, max_new_tokens: 64 };
  writeAtomic(join(OUT, 'generation_config.json'), JSON.stringify(genCfg, null, 2) + '\n');
  if (resolve(TOKENIZER) !== resolve(OUT, 'tokenizer.model')) copyFileSync(TOKENIZER, join(OUT, 'tokenizer.model'));
  writeAtomic(join(OUT, 'tokenizer_config.json'), JSON.stringify(TOKENIZER_CONFIG, null, 2) + '\n');
  writeAtomic(join(OUT, 'special_tokens_map.json'), JSON.stringify(SPECIAL_TOKENS_MAP, null, 2) + '\n');
  // the held-out text the card's perplexity is measured on, so that `tensorzoo eval` can check it
  if (PASSAGES) copyFileSync(join(DATA, 'valid.txt'), join(OUT, HELDOUT));
  // the loss curve: train loss smoothed over 20-step windows, and held-out loss
  const smooth: [number, number][] = hist.train.length ? [hist.train[0]!] : [];
  for (let i = 0; i < hist.train.length; i += 10) {
    const j = Math.min(i + 9, hist.train.length - 1); // every 10th step and the last one
    const w = hist.train.slice(Math.max(0, j - 19), j + 1);
    smooth.push([hist.train[j]![0], w.reduce((a, p) => a + p[1], 0) / w.length]);
  }
  writeAtomic(join(OUT, 'loss.png'), linePlot([
    { label: 'train', color: [31, 119, 180], points: smooth },
    { label: 'held-out', color: [214, 39, 40], points: hist.eval },
  ], { xLabel: 'step', yLabel: 'loss (nats/token)' }));
  const heldOut = hist.eval.at(-1)?.[1] ?? NaN;
  const last = hist.train.slice(-50);
  const trainLoss = last.reduce((a, p) => a + p[1], 0) / Math.max(1, last.length);
  const smp = await samples();
  const quick = await quickstartLengths();
  // the base model's own held-out format, to show what the continuation costs there
  const verseLoss = PASSAGES ? evaluate(verseWindows) : heldOut;
  const metrics = {
    step: hist.step, steps_planned: STEPS, tokens_seen: hist.tokensSeen, wall_seconds: Math.round(hist.wallSeconds), parameters: nParams,
    train_loss_last50: trainLoss, heldout_loss: heldOut, heldout_perplexity: Math.exp(heldOut), unigram_loss: UNIGRAM, unigram_perplexity: Math.exp(UNIGRAM),
    heldout_tokens: validTargets, heldout_format: PASSAGES ? 'text' : 'verses', verse_heldout_loss: verseLoss, verse_heldout_perplexity: Math.exp(verseLoss),
    train_tokens: trainIds.length, format: FORMAT, quickstart_tokens: quick, base: hist.base, final, samples: smp,
  };
  writeAtomic(join(OUT, 'training_metrics.json'), JSON.stringify({ ...metrics, history: { train: hist.train, eval: hist.eval }, commands: hist.commands }) + '\n');
  writeAtomic(join(OUT, 'README.md'), card(metrics, smp));
  const size = readdirSync(OUT).reduce((a, f) => a + statSync(join(OUT, f)).size, 0);
  log(`saved ${OUT} (${(size / 1e6).toFixed(2)} MB, ${((performance.now() - tStart) / 1000).toFixed(1)}s): held-out ppl ${Math.exp(heldOut).toFixed(2)} vs unigram ${Math.exp(UNIGRAM).toFixed(2)} (verse format ${Math.exp(verseLoss).toFixed(2)}); quickstart tokens ${JSON.stringify(quick)}; "${smp[0]!.greedy}"`);
}

type Metrics = Record<string, unknown> & {
  step: number; tokens_seen: number; wall_seconds: number; train_loss_last50: number; heldout_loss: number; heldout_tokens: number;
  verse_heldout_loss: number; quickstart_tokens: Record<string, number>;
};
/** The command that rewrites the model folder from this run's checkpoint (the last step of a reproduction). */
function exportCommand(): string {
  const args = (hist.commands.at(-1) ?? '').split(' ').slice(3);
  const keep: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (['--minutes', '--stop-at', '--out'].includes(args[i]!)) i++;
    else if (args[i] !== '--resume') keep.push(args[i]!);
  }
  return `npx tsx scripts/pretrain.ts ${keep.join(' ')} --export-only --out models/${NAME}`;
}

function card(m: Metrics, smp: { prompt: string; greedy: string; sampled: string }[]): string {
  const f = (x: number, d = 3) => x.toFixed(d);
  const mins = (s: number) => `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  const n = (x: number) => x.toLocaleString('en-US');
  const b = hist.base;
  const docs = trainIds.reduce((a, id) => a + (id === BOS ? 1 : 0), 0);
  const newline = sp.pieceToId('<0x0A>');
  const lineStart = sp.encode('And\nAnd');
  const headDim = config.head_dim;
  const resumes = (cmds: string[], at: number[] | undefined) => cmds.length > 1
    ? `\nThe run was stopped at checkpoints and resumed (\`--resume\`) with a new \`--steps\`, fitted to the throughput measured
so far on the shared cores (the cosine schedule is a function of \`--steps\`, so the learning rate moved slightly at
each resume; data order and state continue exactly):\n\n${cmds.slice(1).map((c) => `    ${c}`).join('\n')}\n\nTo replay this run exactly, run the same commands, each with \`--stop-at S\` for the step S where the next one
resumed (steps ${at?.join(', ') ?? 'recorded in the progress log'}).\n`
    : '';
  const optimizer = `AdamW (betas 0.9/0.95, weight decay ${WD}), peak learning rate ${LR}, ${WARMUP} warmup steps then cosine decay to
  ${MIN_LR_RATIO} x peak at step ${STEPS}; gradient clipping at ${CLIP}; batch ${BATCH} x ${SEQ} = ${BATCH * SEQ} tokens; seed ${SEED}`;
  const training = b
    ? `Two runs of the same script. The base run pretrained from scratch on single verses (its card, in this file's git
history, has the \`--stop-at\` steps to replay it exactly):

\`\`\`sh
scripts/prepare-corpus.sh            # apt-get install bible-kjv sentencepiece; corpus + tokenizer under data/
${b.commands.join('\n')}
\`\`\`

It ran ${n(b.step)} steps (${n(b.tokens_seen)} tokens, ${mins(b.wall_seconds)}; held-out perplexity ${f(b.heldout_perplexity, 2)} on
\`<s> verse </s>\` sequences of 128 tokens). The continuation starts from the folder that run wrote, with a fresh
optimizer and schedule, trains on whole chapters, keeps its checkpoints and folder under the git-ignored \`data/\`, and
its checkpoint is exported here at the end:

\`\`\`sh
${hist.commands[0] ?? ''}
${exportCommand()}
\`\`\`
${resumes(hist.commands, hist.resumedAt)}
- Continuation: ${optimizer} (data order).
- **Steps**: ${m.step}; **tokens seen**: ${n(m.tokens_seen)} (${f(m.tokens_seen / trainIds.length, 2)} epochs of the chapters);
  **wall time**: ${mins(m.wall_seconds)} on 2 shared CPU cores (Node 20, tensorzoo's WebAssembly CPU backend).
  With the base run: ${n(b.step + m.step)} steps, ${n(b.tokens_seen + m.tokens_seen)} tokens, ${mins(b.wall_seconds + m.wall_seconds)}.
- Checkpoints (\`saveTrainingState\`: weights, AdamW moments, schedule, history) every ${CKPT_EVERY} steps, each with a
  complete model folder.

The loss curve of the continuation (train loss smoothed over 20 steps; held-out loss on the multi-line text below,
step 0 being the base model):`
    : `\`\`\`sh
scripts/prepare-corpus.sh            # apt-get install bible-kjv sentencepiece; corpus + tokenizer under data/
${hist.commands[0] ?? ''}
\`\`\`
${resumes(hist.commands, hist.resumedAt)}
- ${optimizer}
  (initial weights from a seeded \`Generator\`: N(0, 0.02), residual projections / sqrt(2 x layers)).
- **Steps**: ${m.step}; **tokens seen**: ${n(m.tokens_seen)} (${f(m.tokens_seen / trainIds.length, 2)} epochs);
  **wall time**: ${mins(m.wall_seconds)} on 2 shared CPU cores (Node 20, tensorzoo's WebAssembly CPU backend).
- Checkpoints (\`saveTrainingState\`: weights, AdamW moments, schedule, history) every ${CKPT_EVERY} steps; the model folder
  is rewritten at each one.`;
  const packing = PASSAGES
    ? `- Packing: ${b ? 'the base run saw each verse as `<s> verse </s>` in 128-token sequences; the continuation\n  trains on' : 'training uses'} whole chapters:
  \`scripts/prepare-corpus.sh\` also writes the training verses grouped by chapter (\`data/kjv/train-passages.txt\`,
  ${n(docs)} chapters; a held-out verse is simply missing from its chapter). Each chapter is one document,
  \`<s> verse\\nverse\\n...verse </s>\`: its verses on separate lines, end-of-text only where the chapter ends. The
  documents are concatenated in canonical order and cut into ${SEQ}-token sequences (${n(nChunks)} of them, ${n(trainIds.length)}
  training tokens), visited in a seeded shuffled order per epoch.`
    : `- Packing: each verse becomes \`<s> verse </s>\`, verses are concatenated in canonical order and cut into
  ${SEQ}-token sequences (${n(nChunks)} of them, ${n(trainIds.length)} training tokens), visited in a seeded
  shuffled order per epoch.`;
  const evaluation = PASSAGES
    ? `On the 622 held-out verses one per line (\`data/kjv/valid.txt\`, shipped here as \`${HELDOUT}\`): a plain multi-line
text of ${n(m.heldout_tokens)} target tokens, scored as \`pnpm tensorzoo eval --data models/${NAME}/${HELDOUT}\` scores it
(\`<s>\` and the whole file, ${SEQ}-token windows overlapping by one token; that command, on the bfloat16 weights, gives
the same perplexity to within rounding).

| model | loss (nats/token) | perplexity |
| --- | --- | --- |
| ${NAME} | ${f(m.heldout_loss)} | **${f(Math.exp(m.heldout_loss), 2)}** |
${b && hist.eval[0]?.[0] === 0 ? `| the base model (verses only, step 0 above) | ${f(hist.eval[0][1])} | ${f(Math.exp(hist.eval[0][1]), 2)} |\n` : ''}| unigram baseline (train-split token frequencies, add-one smoothing) | ${f(UNIGRAM)} | ${f(Math.exp(UNIGRAM), 2)} |

The same verses as \`<s> verse </s>\` documents (the base run's format, here in ${SEQ}-token sequences): perplexity
${f(Math.exp(m.verse_heldout_loss), 2)}${b ? ` (the base model's card: ${f(b.heldout_perplexity, 2)}, in 128-token sequences)` : ''}. Training loss (mean of the last 50 steps): ${f(m.train_loss_last50)}.`
    : `On the ${n(m.heldout_tokens)} held-out target tokens (${validWindows.length} sequences of ${SEQ}, the 622 held-out verses):

| model | loss (nats/token) | perplexity |
| --- | --- | --- |
| ${NAME} | ${f(m.heldout_loss)} | **${f(Math.exp(m.heldout_loss), 2)}** |
| unigram baseline (train-split token frequencies, add-one smoothing) | ${f(UNIGRAM)} | ${f(Math.exp(UNIGRAM), 2)} |

Training loss (mean of the last 50 steps): ${f(m.train_loss_last50)}.`;
  return `---
license: mit
language: en
library_name: tensorzoo
tags: [nemotron, tiny, king-james-bible]
---

# ${NAME}

A ${(nParams / 1e6).toFixed(1)} M-parameter model with NVIDIA Nemotron's architecture (\`NemotronForCausalLM\`, Hugging Face
transformers layout), pretrained from scratch by **tensorzoo's own training code** (\`scripts/pretrain.ts\`, pure
TypeScript on 2 CPU cores) on the King James Bible${b ? ', first on single verses, then on whole chapters' : ''}. It is the
model the repository ships: it needs no download and writes recognizable King James English${PASSAGES ? ', a passage of\nverses on separate lines for any prompt' : ''}. It is a demo and test model, not a useful language model.

${m.final ? '' : `> Intermediate checkpoint (step ${m.step} of ${STEPS} planned); the numbers below are for this checkpoint.\n`}
## Architecture (config.json)

| field | value |
| --- | --- |
| architecture | NemotronForCausalLM (\`model_type: nemotron\`) |
| parameters | ${n(nParams)} (embeddings tied with the LM head) |
| hidden size / layers | ${config.hidden_size} / ${config.num_hidden_layers} |
| attention | grouped-query: ${config.num_attention_heads} query heads, ${config.num_key_value_heads} key/value heads, head_dim ${headDim} |
| rotary | partial_rotary_factor ${config.partial_rotary_factor} (${config.rotary_dim} of ${headDim} channels rotated), rope_theta ${config.rope_theta} |
| MLP | up_proj -> squared ReLU (\`relu2\`) -> down_proj, intermediate ${config.intermediate_size}, no gate |
| norm | LayerNorm1P (weight + 1), eps ${config.norm_eps.toExponential()} |
| vocabulary | ${VOCAB} (SentencePiece BPE), bos 2, eos 3, pad 0, unk 1 |
| context | trained on ${b ? `128-token sequences, continued on ${SEQ}-token ones` : `${SEQ}-token sequences`} (max_position_embeddings ${config.max_position_embeddings}) |
| weights | \`model.safetensors\`, bfloat16 |

## Data

- **Corpus**: the King James Version of the Bible (1611), as shipped by Debian's package \`bible-kjv-text\`
  (installed with \`bible-kjv\`, whose \`bible\` program prints it). The KJV text is in the **public domain**
  (Debian's copyright file: "The copyright for the King James Version text of the Bible is expired"); the
  retrieval program is GPL-2+, and only its output text is used.
- \`scripts/prepare-corpus.sh\` dumps all 31,102 verses (\`bible -f gen1:1-rev22:21\`), one per line, and holds
  out every 50th verse (line number % 50 == 25: 622 verses, 2%) for validation; training uses the other 30,480.
${packing}

## Tokenizer

SentencePiece BPE with byte fallback and split digits, trained on the training split with Debian's
\`sentencepiece\` package${b ? ' (for the base run; the continuation keeps it unchanged)' : ''}:

\`\`\`sh
${SPM_COMMAND}
\`\`\`

\`tokenizer_config.json\`: \`add_bos_token: true\`, \`add_eos_token: false\`; special tokens \`<pad>\` 0, \`<unk>\` 1,
\`<s>\` 2, \`</s>\` 3 (as Nemotron's).${PASSAGES ? ` The vocabulary has no newline piece: a newline is the byte-fallback token
\`<0x0A>\` (id ${newline}), and the first word of a line carries no word-start marker, so "And\\nAnd" is
${lineStart.map((i) => `\`${sp.idToPiece(i)}\``).join(' ')}.` : ''}

## Training

${training}

![loss curve](loss.png)

## Evaluation

${evaluation}

## Samples

Prompts encoded with \`<s>\`; 48 new tokens at most (generation stops at \`</s>\`, the end of a ${PASSAGES ? 'chapter' : 'verse'}).
Greedy, and sampled with temperature 0.8, top-k 40, seed 1:

${smp.map((s) => `- **${s.prompt}**\n  - greedy: ${s.greedy.replaceAll('\n', ' / ')}\n  - sampled: ${s.sampled.replaceAll('\n', ' / ')}`).join('\n')}

(\` / \` marks a newline.) With \`tensorzoo generate\`'s defaults (60 new tokens at most, temperature 0.8, top-k 40,
top-p 0.95, seed 0), the new tokens before \`</s>\`: ${Object.entries(m.quickstart_tokens).map(([p, k]) => `"${p}" ${k}`).join(', ')}.

## Use

\`\`\`ts
import { NemotronForCausalLM } from '@tensorzoo/nemotron';
import { AutoTokenizer } from '@tensorzoo/tokenizer';

const model = await NemotronForCausalLM.fromPretrained('models/${NAME}');
const tok = await AutoTokenizer.fromPretrained('models/${NAME}');
const ids = tok.encode('And God said');
const out = await model.generate([ids], { maxNewTokens: 40, seed: 1 }); // samples as generation_config.json says (T 0.8, top-k 40)
console.log(tok.decode((out.tolist() as number[][])[0]!, { skipSpecialTokens: true }));
\`\`\`

\`training_metrics.json\` holds these numbers, the loss history and the exact commands.
`;
}

// ---------- training ----------
async function checkpoint(final: boolean): Promise<void> {
  hist.wallSeconds = wall();
  mkdirSync(dirname(CKPT), { recursive: true });
  await saveTrainingState(CKPT + '.tmp', { model, optimizer: opt_, scheduler: sched, extra: { history: hist } });
  renameSync(CKPT + '.tmp', CKPT);
  await saveModelFolder(final);
}

log(`unigram baseline: held-out loss ${UNIGRAM.toFixed(3)} (ppl ${Math.exp(UNIGRAM).toFixed(1)}); training steps ${hist.step}..${STEPS}, budget ${MINUTES} min`);
if (EXPORT_ONLY) {
  await saveModelFolder(hist.step >= STEPS);
  process.exit(0);
}
if (base && hist.step === 0 && hist.eval.length === 0) {
  const e = evaluate();
  hist.eval.push([0, +e.toFixed(4)]);
  log(`eval step 0 (${INIT}): held-out loss ${e.toFixed(3)} (ppl ${Math.exp(e).toFixed(2)}; unigram ${Math.exp(UNIGRAM).toFixed(1)})`);
}
let windowStart = performance.now(), windowTokens = 0;
let stopped = false;
while (hist.step < STEPS) {
  const step = hist.step;
  const ids = batchAt(step);
  const [loss, gnorm] = tidy(() => {
    opt_.zeroGrad();
    const out = model.forward({ inputIds: ids, labels: ids });
    out.loss!.backward();
    const gn = clipGradNorm_(params, CLIP).item();
    opt_.step();
    return [out.loss!.item(), gn];
  });
  sched.step();
  if (!Number.isFinite(loss)) throw new Error(`step ${step}: loss is ${loss}`);
  hist.step = step + 1;
  hist.tokensSeen += BATCH * SEQ;
  hist.train.push([hist.step, +loss.toFixed(4)]);
  windowTokens += BATCH * SEQ;
  if (hist.step % LOG_EVERY === 0 || hist.step === 1) {
    const now = performance.now();
    const tps = windowTokens / ((now - windowStart) / 1000);
    const eta = ((STEPS - hist.step) * BATCH * SEQ) / tps;
    const recent = hist.train.slice(-LOG_EVERY);
    log(`step ${hist.step}/${STEPS} loss ${(recent.reduce((a, p) => a + p[1], 0) / recent.length).toFixed(3)} lr ${(LR * lrLambda(step)).toExponential(2)} gnorm ${gnorm.toFixed(2)} | ${tps.toFixed(0)} tok/s | ${(hist.tokensSeen / 1e6).toFixed(3)}M tokens | ${(wall() / 60).toFixed(1)} min | ETA ${(eta / 60).toFixed(1)} min | rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
    windowStart = now;
    windowTokens = 0;
  }
  const timeUp = performance.now() > deadline || hist.step >= STOP_AT;
  if (hist.step % EVAL_EVERY === 0 || hist.step === STEPS || timeUp) {
    const e = evaluate();
    hist.eval.push([hist.step, +e.toFixed(4)]);
    log(`eval step ${hist.step}: held-out loss ${e.toFixed(3)} (ppl ${Math.exp(e).toFixed(2)}; unigram ${Math.exp(UNIGRAM).toFixed(1)})`);
  }
  if (hist.step % CKPT_EVERY === 0 || hist.step === STEPS || timeUp) {
    await checkpoint(hist.step === STEPS);
    windowStart = performance.now();
    windowTokens = 0;
  }
  if (timeUp && hist.step < STEPS) {
    log(`stopping at step ${hist.step} (time budget ${MINUTES} min or --stop-at); resume with --resume`);
    stopped = true;
    break;
  }
}
if (!stopped && hist.step >= STEPS && hist.eval.at(-1)?.[0] !== hist.step) {
  hist.eval.push([hist.step, evaluate()]);
  await checkpoint(true);
}
log(`done: step ${hist.step}, ${hist.tokensSeen} tokens, ${(wall() / 60).toFixed(1)} min`);
