// Training throughput of the small Nemotron config: one full step (forward with the causal-LM loss, backward, AdamW)
// against the no-grad forward of the same batch measured in the same run (wall and CPU time) and, where python3 has
// torch, the same step in PyTorch measured in the same run (else the issue's figure); then the step's GEMMs, each
// shape and layout its forward and backward run, as GFLOP/s beside a 1024^3 product measured in the same run (the
// ceiling every layout should reach).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Generator, getNumThreads, matmul, noGrad, randint, randn, type Tensor } from '../packages/tensor/dist/index.js';
import { AdamW } from '../packages/nn/dist/index.js';
import { NemotronConfig, NemotronForCausalLM } from '../packages/nemotron/dist/index.js';
import { medianMs, printTable } from './util.js';

const BATCH = 8;
const SEQ = 128;
/** Issue 16's figures for this config on its machine's 2 threads: main at filing, and PyTorch 1.13 + OpenBLAS. */
const ISSUE_BASELINE_TOKS = 600;
const ISSUE_PYTORCH_TOKS = 7693;
/** The same step in plain torch; run when this machine's python3 imports torch (never needed, never installed here). */
const PYTORCH_SCRIPT = fileURLToPath(new URL('./reference/pytorch_train_step.py', import.meta.url));

/** tokens/s of the PyTorch reference step on `threads` threads, measured now; null (with the reason) without torch. */
function pytorchTokS(threads: number): { toks: number | null; note: string } {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      const out = execFileSync(py, [PYTORCH_SCRIPT, String(threads)], { encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
      const m = /^torch (\S+), .* ([\d.]+) tokens\/s$/m.exec(out);
      if (m) return { toks: Number(m[2]), note: `PyTorch ${m[1]} measured in this run (${py} bench/reference/pytorch_train_step.py)` };
    } catch {
      // no python3 or no torch: try the next, then fall back to the issue's figure
    }
  }
  return { toks: null, note: 'PyTorch not importable here: ratio against the issue\'s figure' };
}

/** Prints training-step tokens/s beside the no-grad forward and the PyTorch reference. */
export async function run(): Promise<void> {
  const config = new NemotronConfig({
    vocab_size: 8000, hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4,
  });
  const model = new NemotronForCausalLM(config, { generator: new Generator(0) }).train();
  const ids = randint(0, config.vocab_size, [BATCH, SEQ], { generator: new Generator(1) });
  const opt = new AdamW(model.parameters(), { lr: 1e-4 });
  const step = () => {
    opt.zeroGrad();
    const { loss } = model.forward({ inputIds: ids, labels: ids });
    loss!.backward();
    opt.step();
    return loss!.item();
  };
  const forward = () => noGrad(() => model.forward({ inputIds: ids }).logits.dataSync());
  const tokens = BATCH * SEQ;
  const stepCpu = cpuTimed(step, 2);
  const fwdCpu = cpuTimed(forward, 1);
  const stepMs = await medianMs(stepCpu.fn, 7, 2);
  const fwdMs = await medianMs(fwdCpu.fn, 5, 1);
  const stepToks = (tokens * 1000) / stepMs;
  const torch = pytorchTokS(getNumThreads());
  const ref = torch.toks ?? ISSUE_PYTORCH_TOKS;
  printTable(
    `Nemotron training step, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, ${config.num_attention_heads} heads, MLP ${config.intermediate_size}, vocab ${config.vocab_size}, batch ${BATCH} x ${SEQ} tokens (float32, CPU; issue baseline ${ISSUE_BASELINE_TOKS} tok/s; issue's PyTorch 1.13 + OpenBLAS, 2 threads: ${ISSUE_PYTORCH_TOKS} tok/s; ${torch.note}${torch.toks ? `: ${Math.round(torch.toks)} tok/s` : ''})`,
    ['phase', 'ms', 'CPU ms (all threads)', 'tokens/s', 'vs no-grad forward', 'vs issue baseline', 'vs PyTorch', 'vs issue\'s PyTorch'],
    [
      ['step: forward + causal-LM loss + backward + AdamW', stepMs, stepCpu.median(), stepToks, `${(fwdMs / stepMs).toFixed(2)}x`, `${(stepToks / ISSUE_BASELINE_TOKS).toFixed(2)}x`, `${(stepToks / ref).toFixed(2)}x`, `${(stepToks / ISSUE_PYTORCH_TOKS).toFixed(2)}x`],
      ['no-grad forward, logits at every position (baseline)', fwdMs, fwdCpu.median(), (tokens * 1000) / fwdMs, '1.00x', '-', '-', '-'],
    ],
  );
  await gemmTable();
}

/** [label, batch, m, n, k, A transposed, B transposed]: the step's products (per layer unless noted). */
const STEP_GEMMS: [string, number, number, number, number, boolean, boolean][] = [
  ['1024^3 (reference)', 1, 1024, 1024, 1024, false, false],
  ['lm_head forward X W^T', 1, 1024, 8000, 256, false, true],
  ['lm_head dX = dY W', 1, 1024, 256, 8000, false, false],
  ['lm_head dW = dY^T X', 1, 8000, 256, 1024, true, false],
  ['q/k/v/o forward', 1, 1024, 256, 256, false, true],
  ['q/k/v/o dW', 1, 256, 256, 1024, true, false],
  ['up forward / down dX', 1, 1024, 1024, 256, false, true],
  ['up dW', 1, 1024, 256, 1024, true, false],
  ['down forward / up dX', 1, 1024, 256, 1024, false, true],
  ['down dW', 1, 256, 1024, 1024, true, false],
  ['attention Q K^T (32 heads x batch)', 32, 128, 128, 64, false, true],
  ['attention P V', 32, 128, 64, 128, false, false],
  ['attention dV = P^T dO', 32, 128, 64, 128, true, false],
];

/** GFLOP/s of each of the step's GEMM shapes and layouts through the public matmul (operand copies included). */
async function gemmTable(): Promise<void> {
  const g = new Generator(2);
  const rows: (string | number)[][] = [];
  let ref = 0;
  for (const [label, batch, m, n, k, ta, tb] of STEP_GEMMS) {
    const operand = (rows: number, cols: number, t: boolean): Tensor => (t ? randn([batch, cols, rows], { generator: g }).transpose(1, 2) : randn([batch, rows, cols], { generator: g }));
    const a = operand(m, k, ta);
    const b = operand(k, n, tb);
    const flop = 2 * batch * m * n * k;
    const ms = await medianMs(() => noGrad(() => matmul(a, b)), 5, 1);
    const gfs = flop / ms / 1e6;
    if (rows.length === 0) ref = gfs;
    rows.push([label, `${batch > 1 ? `${batch} x ` : ''}${m} x ${n} x ${k} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`, ms, gfs, `${(gfs / ref).toFixed(2)}x`]);
  }
  printTable('The training step\'s GEMMs (float32, CPU), against 1024^3 in the same run', ['product', 'batch x m x n x k, layout', 'ms', 'GFLOP/s', 'vs 1024^3'], rows);
}

/**
 * fn wrapped to record the process's CPU time (user + system, every thread) per call: on a loaded machine wall time
 * includes waiting for a core, CPU time does not. median() is over the calls after the first `skip` (the warmup runs).
 */
function cpuTimed(fn: () => unknown, skip: number): { fn: () => unknown; median: () => number } {
  const ms: number[] = [];
  return {
    fn: () => {
      const c0 = process.cpuUsage();
      const r = fn();
      const c = process.cpuUsage(c0);
      ms.push((c.user + c.system) / 1000);
      return r;
    },
    median: () => {
      const s = ms.slice(skip).sort((a, b) => a - b);
      return s[Math.floor(s.length / 2)]!;
    },
  };
}
