// Training throughput of the small Nemotron config: one full step (forward with the causal-LM loss, backward, AdamW)
// against the no-grad forward of the same batch measured in the same run (wall and CPU time), with the issue's figures
// as text.
import { Generator, noGrad, randint } from '../packages/tensor/dist/index.js';
import { AdamW } from '../packages/nn/dist/index.js';
import { NemotronConfig, NemotronForCausalLM } from '../packages/nemotron/dist/index.js';
import { medianMs, printTable } from './util.js';

const BATCH = 8;
const SEQ = 128;
/** Issue 16's figures for this config on this machine's 2 threads: main at filing, and PyTorch 1.13 + OpenBLAS. */
const ISSUE_BASELINE_TOKS = 600;
const PYTORCH_TOKS = 7693;

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
  printTable(
    `Nemotron training step, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, ${config.num_attention_heads} heads, MLP ${config.intermediate_size}, vocab ${config.vocab_size}, batch ${BATCH} x ${SEQ} tokens (float32, CPU; issue baseline ${ISSUE_BASELINE_TOKS} tok/s; PyTorch 1.13 + OpenBLAS, 2 threads: ${PYTORCH_TOKS} tok/s)`,
    ['phase', 'ms', 'CPU ms (all threads)', 'tokens/s', 'vs no-grad forward', 'vs issue baseline', 'vs PyTorch'],
    [
      ['step: forward + causal-LM loss + backward + AdamW', stepMs, stepCpu.median(), stepToks, `${(fwdMs / stepMs).toFixed(2)}x`, `${(stepToks / ISSUE_BASELINE_TOKS).toFixed(2)}x`, `${(stepToks / PYTORCH_TOKS).toFixed(2)}x`],
      ['no-grad forward, logits at every position (baseline)', fwdMs, fwdCpu.median(), (tokens * 1000) / fwdMs, '1.00x', '-', '-'],
    ],
  );
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
