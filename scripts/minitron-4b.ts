// Scale check: writes a random-weight checkpoint with the real Minitron-4B shape (bfloat16, sharded like Hugging
// Face's), loads it with fromPretrained (weights kept bf16, or quantized to q8_0 / q4_0 on load), prefills a 128-token
// prompt and decodes. Reports load time, peak resident memory, prefill tokens/s, decode seconds per token, and the
// decode floor: the bytes one token reads (every weight but the embedding table, of which it reads one row) over the
// memory read bandwidth that the benches' streaming read kernel measures in the same run, before the model loads; and
// the load's floor: the weights' bytes at the rate file reads fill memory new to the process (its page faults), also
// measured in the run (bench/util.ts freshFillGBs).
// Usage: npx tsx scripts/minitron-4b.ts [--dir DIR] [--keep] [--layers N] [--dtype bf16|q8|q4] [--kv-dtype f32|bf16|f16]
//   [--new N] [--threads N] [--prompt N]
// The engine is set up as the CLI sets it up (relaxed SIMD on; TENSORZOO_RELAXED_SIMD=0 runs without it).
import '../packages/nemotron/dist/cli/engine-flags.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBits, Generator, saveSafetensors, type Tensor } from '../packages/tensor/dist/index.js';
import { arr } from '../packages/tensor/dist/backend/cpu/storage.js';
import { heapStats, setNumThreads } from '../packages/tensor/dist/backend/cpu/wasm/index.js';
import { hasRelaxedSimd } from '../packages/tensor/dist/index.js';
import { NemotronConfig, NemotronForCausalLM } from '../packages/nemotron/dist/index.js';
import { freshFillGBs, maddCeilingGFlops, readCeilingGBs, stealMeter } from '../bench/util.js';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const layers = Number(opt('--layers') ?? 32);
const dir = opt('--dir') ?? mkdtempSync(join(tmpdir(), 'minitron-4b-'));
const keep = args.includes('--keep');
const dtype = opt('--dtype') ?? 'bf16';
// Weight-only quantization through fromPretrained's `dtype: 'q8' | 'q4'` (decoder Linear weights, and lm_head as q8_0;
// embeddings and norms stay bf16).
if (dtype !== 'bf16' && dtype !== 'q8' && dtype !== 'q4') throw new Error(`--dtype must be bf16, q8 or q4, got ${dtype}`);
const kvDtype = ({ f32: 'float32', bf16: 'bfloat16', f16: 'float16' } as const)[opt('--kv-dtype') ?? 'f32'];
if (!kvDtype) throw new Error(`--kv-dtype must be f32, bf16 or f16, got ${opt('--kv-dtype')}`);
const newTokens = Number(opt('--new') ?? 8);
const threads = Number(opt('--threads') ?? 2);
const PROMPT = Number(opt('--prompt') ?? 128);

// Minitron-4B-Base's shape (config.json of nvidia/Minitron-4B-Base).
const config = new NemotronConfig({
  architectures: ['NemotronForCausalLM'], vocab_size: 256000, hidden_size: 3072, intermediate_size: 9216, num_hidden_layers: layers,
  num_attention_heads: 24, head_dim: 128, num_key_value_heads: 8, max_position_embeddings: 4096, partial_rotary_factor: 0.5,
  rope_theta: 10000, norm_eps: 1e-5, torch_dtype: 'bfloat16', bos_token_id: 2, eos_token_id: 3, tie_word_embeddings: false,
});

/** Peak resident memory in GB (10^9 bytes, as the weight sizes). */
function peakRssGB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return (Number(m[1]) * 1024) / 1e9;
  } catch { /* not Linux */ }
  return process.memoryUsage().rss / 1e9;
}

/** Random bf16 weights ~ N(0, 0.02)-sized: random sign and mantissa, exponents 2^-9..2^-5 (fast: two values per draw). */
function randomBf16(shape: number[], g: Generator): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = g.nextUint32();
    const e = 118 + ((r >>> 29) % 5); // biased exponent 118..122
    bits[i] = ((r & 0x8000) | (e << 7) | (r & 0x7f)) & 0xffff;
    if (i + 1 < n) bits[i + 1] = (((r >>> 16) & 0x8000) | (e << 7) | ((r >>> 8) & 0x7f)) & 0xffff;
  }
  return fromBits(bits, shape, 'bfloat16');
}

/** The checkpoint's tensors in HF order, grouped into shards of about 5 GB. */
function tensorShapes(): [string, number[]][] {
  const h = config.hidden_size, q = config.num_attention_heads * config.head_dim, kv = config.num_key_value_heads * config.head_dim, m = config.intermediate_size;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [config.vocab_size, h]]];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      [p + 'input_layernorm.weight', [h]], [p + 'input_layernorm.bias', [h]],
      [p + 'self_attn.q_proj.weight', [q, h]], [p + 'self_attn.k_proj.weight', [kv, h]], [p + 'self_attn.v_proj.weight', [kv, h]], [p + 'self_attn.o_proj.weight', [h, q]],
      [p + 'post_attention_layernorm.weight', [h]], [p + 'post_attention_layernorm.bias', [h]],
      [p + 'mlp.up_proj.weight', [m, h]], [p + 'mlp.down_proj.weight', [h, m]],
    );
  }
  out.push(['model.norm.weight', [h]], ['model.norm.bias', [h]], ['lm_head.weight', [config.vocab_size, h]]);
  return out;
}

async function writeCheckpoint(): Promise<void> {
  if (existsSync(join(dir, 'model.safetensors.index.json'))) {
    console.log(`reusing the checkpoint in ${dir}`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  const shapes = tensorShapes();
  const bytes = (s: number[]) => 2 * s.reduce((a, b) => a * b, 1);
  const shards: [string, number[]][][] = [[]];
  let size = 0;
  for (const e of shapes) {
    if (size > 0 && size + bytes(e[1]) > 5e9) {
      shards.push([]);
      size = 0;
    }
    shards.at(-1)!.push(e);
    size += bytes(e[1]);
  }
  const g = new Generator(0);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < shards.length; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const tensors = new Map<string, Tensor>();
    for (const [name, shape] of shards[s]!) {
      tensors.set(name, randomBf16(shape, g));
      weightMap[name] = file;
      total += bytes(shape);
    }
    const t0 = performance.now();
    await saveSafetensors(join(dir, file), tensors, { format: 'pt' });
    console.log(`wrote ${file} (${(shards[s]!.reduce((a, [, sh]) => a + bytes(sh), 0) / 1e9).toFixed(2)} GB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const t of tensors.values()) t.dispose();
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config.toDict(), null, 2));
}

await writeCheckpoint();
setNumThreads(threads);
// The read ceiling, measured while no model occupies the heap (its 256 MiB array is read in place there): before
// loading and again after decoding, once the weights are freed; the floor uses the mean of the two.
const ceilingBefore = await readCeilingGBs(threads, 5);
// The quantized GEMVs are bound by instructions as much as by memory (q4_0 on one thread: 25 G weights/s in cache):
// the compute ceiling says how fast this machine's cores run today, which the read bandwidth does not.
const computeCeiling = await maddCeilingGFlops(1);
console.log(`relaxed SIMD: ${hasRelaxedSimd() ? 'on' : 'off'}; read bandwidth (streaming read kernel, ${threads} threads), before loading: ${ceilingBefore.toFixed(1)} GB/s; SIMD multiply-add ceiling on one thread: ${computeCeiling.toFixed(1)} GFLOP/s`);
// Loading copies the file into memory that is new to the process: its page faults, not the copy, bound the load on
// a virtual machine (each fault may reach the host). The same reads into fresh and into resident memory, measured
// now on the first shard, give the load its floor below.
const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
const fill = await freshFillGBs(join(dir, Object.values(index.weight_map)[0]!), 2 ** 30);
console.log(`file reads into memory (the loader's reads, 1 GiB): fresh memory ${fill.fresh.toFixed(2)} GB/s, resident memory ${fill.resident.toFixed(2)} GB/s`);
const rssBefore = peakRssGB();
const cpu0 = process.cpuUsage(); // a loaded machine stretches the wall time; the CPU seconds say what loading costs
let shownPct = -1;
const t0 = performance.now();
const model = await NemotronForCausalLM.fromPretrained(dir, {
  ...(dtype === 'bf16' ? {} : { dtype }),
  onProgress: (p) => {
    // a line per 10% where stderr is not a terminal (a log), else one line rewritten per 1%
    const step = process.stderr.isTTY ? 1 : 10;
    const pct = p.total > 0 ? Math.floor((100 * p.loaded) / p.total / step) * step : 0;
    if (pct === shownPct) return;
    shownPct = pct;
    process.stderr.write(`${process.stderr.isTTY ? '\r' : ''}loading ${(p.loaded / 2 ** 30).toFixed(2)}/${(p.total / 2 ** 30).toFixed(2)} GiB${process.stderr.isTTY ? '' : '\n'}`);
  },
});
const loadS = (performance.now() - t0) / 1000;
const loadCpu = process.cpuUsage(cpu0);
const rssLoad = peakRssGB();
if (process.stderr.isTTY) process.stderr.write('\n');

// Bytes one decode token reads: every weight's storage, but only one row of the embedding table.
let weightBytes = 0;
let tokenBytes = 0;
for (const [name, p] of model.namedParameters()) {
  const b = arr(p.storage).byteLength;
  weightBytes += b;
  tokenBytes += name.includes('embed_tokens') ? b / p.shape[0]! : b;
}
const stats = heapStats() as { memories?: number };
// The weights land in fresh memory; a quantizing load also reads the rest of the file, through reused buffers.
const loadFloorS = weightBytes / (fill.fresh * 1e9) + Math.max(0, index.metadata.total_size - weightBytes) / (fill.resident * 1e9);
console.log(`loaded ${(model.numParameters() / 1e9).toFixed(2)} B parameters (${dtype}: layers ${new Map(model.namedParameters()).get('model.layers.0.mlp.up_proj.weight')!.dtype}, lm_head ${model.lm_head.weight.dtype}; ${(weightBytes / 1e9).toFixed(2)} GB) in ${loadS.toFixed(1)} s, ${(loadS / loadFloorS).toFixed(2)}x its floor of ${loadFloorS.toFixed(1)} s (the weights' bytes at the fresh-memory rate, the rest of the file at the resident one) (CPU ${(loadCpu.user / 1e6).toFixed(1)} s user + ${(loadCpu.system / 1e6).toFixed(1)} s system); peak RSS so far ${rssLoad.toFixed(2)} GB (before load ${rssBefore.toFixed(2)} GB); wasm memories: ${stats.memories ?? 1}`);

const g = new Generator(1);
const prompt = [2, ...Array.from({ length: PROMPT - 1 }, () => 4 + (g.nextUint32() % (config.vocab_size - 4)))];
const times: number[] = [];
const steal = stealMeter();
let last = performance.now();
await model.generate([prompt], {
  maxNewTokens: newTokens,
  eosTokenId: null,
  cacheDtype: kvDtype,
  onToken: () => {
    const now = performance.now();
    times.push((now - last) / 1000);
    last = now;
  },
});
const stolen = steal();
const decode = times.slice(1);
const median = [...decode].sort((a, b) => a - b)[Math.floor(decode.length / 2)]!;
const rssPeak = peakRssGB();
for (const [, p] of model.namedParameters()) p.dispose();
const ceilingAfter = await readCeilingGBs(threads, 5);
const ceiling = (ceilingBefore + ceilingAfter) / 2;
console.log(`read bandwidth after decoding: ${ceilingAfter.toFixed(1)} GB/s; mean ${ceiling.toFixed(1)} GB/s`);
const floor = tokenBytes / (ceiling * 1e9);
console.log(`prefill (${PROMPT} tokens) + first token: ${times[0]!.toFixed(2)} s = ${(PROMPT / times[0]!).toFixed(1)} tokens/s`);
console.log(`decode: ${decode.map((t) => t.toFixed(3)).join(' ')} s/token, median ${median.toFixed(3)} s/token`);
console.log(`floor: ${(tokenBytes / 1e9).toFixed(2)} GB per token / ${ceiling.toFixed(1)} GB/s = ${floor.toFixed(3)} s/token; decode is ${(median / floor).toFixed(2)}x the floor`);
console.log(`peak RSS ${rssPeak.toFixed(2)} GB (weights ${(weightBytes / 1e9).toFixed(2)} GB)`);
if (stolen !== null) console.log(`CPU time the host took (steal) while prefilling and decoding: ${stolen.toFixed(1)}%`);
console.log(JSON.stringify({ dtype, kvDtype, relaxedSimd: hasRelaxedSimd(), layers, threads, loadS, loadFloorS, freshFillGBs: fill.fresh, residentFillGBs: fill.resident, loadCpuS: (loadCpu.user + loadCpu.system) / 1e6, peakRssGB: rssPeak, weightGB: weightBytes / 1e9, prefillTokS: PROMPT / times[0]!, decodeS: median, floorS: floor, ceilingGBs: ceiling, maddGFlops1: computeCeiling, stealPct: stolen }));
if (!keep && !opt('--dir')) rmSync(dir, { recursive: true, force: true });
