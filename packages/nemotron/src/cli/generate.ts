// tensorzoo generate: streams a continuation of a prompt, then reports tokens/s on stderr.
import { NemotronForCausalLM } from '../models/nemotron/modeling-nemotron.js';
import { UsageError, type Command } from './args.js';
import { loadTokenizer, readStdin, resolveModelDir, useDevice, loadingProgress } from './model-dir.js';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'continue a prompt with a causal LM, streaming the text as it is generated',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder (config.json, model.safetensors, tokenizer); default: the shipped model' },
    prompt: { type: 'string', arg: 'TEXT', help: 'the prompt; read from stdin when omitted' },
    'max-new-tokens': { type: 'number', arg: 'N', help: 'tokens to generate', default: 60 },
    temperature: { type: 'number', arg: 'T', help: 'sampling temperature; 0 = greedy', default: 0.8 },
    'top-k': { type: 'number', arg: 'K', help: 'sample from the K most likely tokens (0 = all)', default: 40 },
    'top-p': { type: 'number', arg: 'P', help: 'nucleus sampling mass', default: 0.95 },
    seed: { type: 'number', arg: 'S', help: 'random seed', default: 0 },
    device: { type: 'string', arg: 'cpu|webgpu', help: 'where to run', default: 'cpu' },
  },
  async run(o) {
    await useDevice(String(o.device));
    const dir = resolveModelDir(o.model as string | undefined);
    const prompt = (o.prompt as string | undefined) ?? (await readStdin()).trimEnd();
    if (prompt === '') throw new UsageError('generate: give a prompt with --prompt TEXT or on stdin');
    const n = o['max-new-tokens'] as number;
    if (!Number.isInteger(n) || n < 1) throw new UsageError('generate: --max-new-tokens must be a positive integer');
    const temperature = o.temperature as number;
    if (temperature < 0) throw new UsageError('generate: --temperature must be >= 0');
    const [model, tok] = await Promise.all([NemotronForCausalLM.fromPretrained(dir, loadingProgress()), loadTokenizer(dir)]);
    const ids = tok.encode(prompt);
    process.stdout.write(prompt);
    const produced: number[] = [];
    // Decode prompt + continuation together and print what follows the decoded prompt: decoding the new ids alone
    // would drop the space SentencePiece marks on a word's first piece.
    const base = tok.decode(ids, { skipSpecialTokens: true });
    const continuation = () => tok.decode([...ids, ...produced], { skipSpecialTokens: true }).slice(base.length);
    let shown = '';
    const t0 = performance.now();
    let first = 0;
    for await (const step of model.stream([ids], {
      maxNewTokens: n,
      doSample: temperature > 0,
      temperature: temperature > 0 ? temperature : 1,
      topK: o['top-k'] as number,
      topP: o['top-p'] as number,
      seed: o.seed as number,
    })) {
      if (first === 0) first = performance.now();
      if (step.finished[0] && model.generationConfig?.eosTokenId === step.tokens[0]) break;
      produced.push(step.tokens[0]!);
      // byte-fallback pieces only form a character together: hold back a trailing incomplete one
      const text = continuation();
      const safe = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
      if (safe.startsWith(shown)) {
        process.stdout.write(safe.slice(shown.length));
        shown = safe;
      }
    }
    const total = (performance.now() - t0) / 1000;
    const decodeRate = produced.length > 1 ? (produced.length - 1) / ((performance.now() - first) / 1000) : 0;
    await new Promise<void>((r) => process.stdout.write(continuation().slice(shown.length) + '\n', () => r())); // text first, then the rate
    process.stderr.write(`${produced.length} tokens in ${total.toFixed(2)} s: ${(produced.length / total).toFixed(1)} tokens/s (decode ${decodeRate.toFixed(1)} tokens/s)\n`);
  },
};
