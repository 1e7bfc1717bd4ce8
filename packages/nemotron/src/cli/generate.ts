// tensorzoo generate: streams a continuation of a prompt, then reports tokens/s on stderr (also after Ctrl-C).
import { NemotronForCausalLM, NonFiniteLogitsError, TextStream, type StopReason, type WeightQuantization } from '../index.js';
import { ADAPTER, withAdapter } from './adapter.js';
import { DEVICE, WEIGHT_DTYPE, SEED, samplingOptions, UsageError, type Command } from './args.js';
import { CONTEXT, fitPrompt, TRUNCATE, type Truncate } from './context.js';
import { nonFiniteError } from './finite.js';
import { loadingProgress, loadTokenizer, openModelDir, readStdin, useDevice } from './model-dir.js';
import { DelayedProgress } from './progress.js';

/** --max-new-tokens when neither the option nor the model's generation_config.json sets it. */
const FALLBACK_MAX_NEW_TOKENS = 60;

/** Prompt tokens per prefill forward: small enough to report progress, large enough to keep matmuls efficient. */
const PREFILL_CHUNK = 64;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'continue a prompt with a causal LM, streaming the text as it is generated',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder (config.json, model.safetensors, tokenizer); default: the shipped model' },
    adapter: ADAPTER,
    prompt: { type: 'string', arg: 'TEXT', help: 'the prompt; read from stdin when omitted' },
    'max-new-tokens': {
      type: 'int', arg: 'N', min: 1,
      help: `tokens to generate (at most what the context leaves); default: the model's generation_config.json, else ${FALLBACK_MAX_NEW_TOKENS}`,
    },
    ...samplingOptions(0.8, 'the text'),
    stop: { type: 'string', arg: 'TEXT', help: 'stop once the generated text ends with TEXT (printed with it)' },
    seed: SEED,
    truncate: TRUNCATE,
    device: DEVICE,
    dtype: WEIGHT_DTYPE,
  },
  async run(o) {
    const device = await useDevice(String(o.device));
    const { dir } = await openModelDir(this, o);
    const stop = o.stop as string | undefined;
    if (stop === '') throw new UsageError('generate: --stop "" is not allowed: expected a non-empty text');
    const promptText = (o.prompt as string | undefined) ?? (await readStdin()).trimEnd();
    if (promptText === '') throw new UsageError('generate: give a prompt with --prompt TEXT or on stdin');
    // an adapter is applied (and merged) on the host, then the model moves to the device
    const adapter = o.adapter as string | undefined;
    const dtype = o.dtype as WeightQuantization | undefined;
    if (adapter && dtype) throw new UsageError('generate: --adapter and --dtype together are not supported yet (the adapter is merged into float weights)');
    const [loaded, tok] = await Promise.all([NemotronForCausalLM.fromPretrained(dir, { ...loadingProgress(), device: adapter ? undefined : device, dtype }), loadTokenizer(dir)]);
    const model = adapter ? (await withAdapter('generate', loaded, adapter)).to(device) : loaded;
    const gen = model.generationConfig;
    const limit = model.config.max_position_embeddings;
    const encoded = tok.encode(promptText);
    const wanted = (o['max-new-tokens'] as number | undefined) ?? gen?.maxNewTokens
      ?? (gen?.maxLength !== undefined ? Math.max(1, gen.maxLength - encoded.length) : FALLBACK_MAX_NEW_TOKENS);
    const ids = fitPrompt('generate', encoded, limit, wanted, o.truncate as Truncate | undefined, tok.bosTokenId ?? null);
    const eosTokenId = gen?.eosTokenId ?? model.config.eos_token_id;
    const temperature = o.temperature as number;

    let interrupted = false;
    const onSigint = () => (interrupted = true);
    process.on('SIGINT', onSigint);
    const prefill = new DelayedProgress('prefill', 'tokens');
    const stream = new TextStream({ decode: (x) => tok.decode(x, { skipSpecialTokens: true }) }, ids);
    let produced = 0; // new tokens
    let shown = '';
    let stoppedBy: StopReason | undefined;
    const t0 = performance.now();
    let first = 0;
    try {
      for await (const step of model.stream([ids], {
        maxNewTokens: wanted,
        doSample: temperature > 0,
        temperature: temperature > 0 ? temperature : 1,
        topK: o['top-k'] as number,
        topP: o['top-p'] as number,
        repetitionPenalty: (o['repetition-penalty'] as number | undefined) ?? gen?.repetitionPenalty ?? 1,
        seed: o.seed as number,
        eosTokenId,
        prefillChunkSize: PREFILL_CHUNK,
        onPrefill: (done, total) => prefill.update(done, total),
      })) {
        if (first === 0) {
          first = performance.now();
          prefill.done();
          process.stdout.write(promptText); // after the prefill: a broken model fails before anything is printed
        }
        stoppedBy = step.stoppedBy;
        if (stoppedBy === 'eos') break;
        produced++;
        const text = stream.push(step.tokens[0]!);
        process.stdout.write(text);
        shown += text;
        if (interrupted) break; // Ctrl-C: leaving the loop ends the stream and frees its cache
        if (stop !== undefined && shown.endsWith(stop)) break;
      }
    } catch (e) {
      if (e instanceof NonFiniteLogitsError) throw await nonFiniteError('generate', 'logits', model, e.sequences);
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
    }
    if (first === 0) process.stdout.write(promptText); // interrupted during the prefill
    const total = (performance.now() - t0) / 1000;
    const decodeRate = produced > 1 ? (produced - 1) / ((performance.now() - first) / 1000) : 0;
    await new Promise<void>((r) => process.stdout.write(stream.end() + '\n', () => r())); // text first, then the rate
    process.stderr.write(`${produced} tokens in ${total.toFixed(2)} s: ${(produced / total).toFixed(1)} tokens/s (decode ${decodeRate.toFixed(1)} tokens/s)\n`);
    if (interrupted) {
      process.stderr.write('generate: interrupted\n');
      return 130;
    }
    if (stoppedBy === 'context') {
      process.stderr.write(`generate: stopped at the context limit: ${ids.length} prompt + ${produced} new tokens = ${limit} positions (${CONTEXT}); ${wanted} were asked for\n`);
    }
  },
};
