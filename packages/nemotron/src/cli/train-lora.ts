// tensorzoo train-lora: fine-tunes a causal LM on plain text with a LoRA adapter (PEFT's formula), the base weights
// frozen, and writes the adapter folder PEFT reads (adapter_config.json + adapter_model.safetensors).
import { Generator, noGrad, tensor } from '@tensorzoo/tensor';
import { AdamW } from '@tensorzoo/nn';
import { applyLora, loadConfig, NemotronForCausalLM } from '../index.js';
import { checkModelBounds, DEVICE, SEED, UsageError, type Command } from './args.js';
import { CONTEXT } from './context.js';
import { packBlocks, readTexts } from './corpus.js';
import { loadTokenizer, loadingProgress, resolveModelDir, useDevice } from './model-dir.js';
import { Progress } from './progress.js';

/** Tokens per block unless --max-length says otherwise (or the model's context is shorter). */
const DEFAULT_MAX_LENGTH = 128;

function shuffled<T>(xs: readonly T[], g: Generator): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = g.integer(0, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export const trainLoraCommand: Command = {
  name: 'train-lora',
  summary: 'fine-tune a causal LM on text with a LoRA adapter, written in PEFT\'s format',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'base model folder; default: the shipped model' },
    data: { type: 'string', arg: 'FILE', help: 'training text: .txt (documents separated by blank lines) or .jsonl lines {"text": ...}', required: true },
    out: { type: 'string', arg: 'DIR', help: 'where to write the adapter (adapter_config.json + adapter_model.safetensors)', required: true },
    r: { type: 'int', arg: 'N', help: 'rank of the LoRA update', default: 8, min: 1 },
    alpha: { type: 'number', arg: 'A', help: 'lora_alpha: the update is scaled by alpha / r', default: 16, min: 0, minOpen: true },
    dropout: { type: 'number', arg: 'P', help: 'lora_dropout on the adapter\'s input', default: 0, min: 0, max: 1, maxOpen: true },
    'target-modules': { type: 'string', arg: 'a,b,...', help: 'names of the Linear layers to adapt, or all-linear', default: 'q_proj,v_proj' },
    rslora: { type: 'boolean', help: 'rsLoRA: scale by alpha / sqrt(r)' },
    epochs: { type: 'int', arg: 'N', help: 'passes over the data', default: 3, min: 1 },
    lr: { type: 'number', arg: 'LR', help: 'AdamW learning rate', default: 1e-3, min: 0, minOpen: true },
    'batch-size': { type: 'int', arg: 'N', help: 'blocks per step', default: 8, min: 1 },
    'max-length': { type: 'int', arg: 'N', help: `tokens per block (the text is packed into blocks); default: ${DEFAULT_MAX_LENGTH} or the model's context when shorter`, min: 2, max: { of: (c) => c.max_position_embeddings, name: CONTEXT } },
    seed: { ...SEED, help: 'seed of the adapter init, dropout and the shuffles' },
    device: DEVICE,
  },
  async run(o) {
    await useDevice(String(o.device));
    const targets = String(o['target-modules']).split(',').map((s) => s.trim()).filter(Boolean);
    if (targets.length === 0) throw new UsageError('train-lora: --target-modules needs at least one name');
    const dir = resolveModelDir(o.model as string | undefined);
    const config = await loadConfig(dir);
    checkModelBounds(this, o, config);
    const maxLength = (o['max-length'] as number | undefined) ?? Math.min(DEFAULT_MAX_LENGTH, config.max_position_embeddings);
    const docs = await readTexts(String(o.data));
    const tok = await loadTokenizer(dir);
    const blocks = packBlocks(docs.map((d) => tok.encode(d)), maxLength, tok.eosTokenId ?? null);

    const model = await NemotronForCausalLM.fromPretrained(dir, loadingProgress());
    const g = new Generator(o.seed as number);
    let peft;
    try {
      peft = applyLora(model, {
        taskType: 'CAUSAL_LM', baseModelNameOrPath: dir, r: o.r as number, loraAlpha: o.alpha as number, loraDropout: o.dropout as number,
        targetModules: targets.length === 1 && targets[0] === 'all-linear' ? 'all-linear' : targets, useRslora: o.rslora === true, generator: g,
      });
    } catch (e) {
      throw new UsageError(`train-lora: ${(e as Error).message.replace(/^LoraModel: /, '')}`);
    }
    peft.train();
    const { trainable, total } = peft.getNbTrainableParameters();
    process.stderr.write(`trainable params: ${trainable} || all params: ${total} || trainable%: ${((100 * trainable) / total).toFixed(4)}\n`);

    const opt = new AdamW([...peft.parameters()].filter((p) => p.requiresGrad), { lr: o.lr as number, weightDecay: 0 });
    const bs = o['batch-size'] as number;
    const epochs = o.epochs as number;
    const stepsPerEpoch = Math.ceil(blocks.length / bs);
    const bar = new Progress('train', epochs * stepsPerEpoch, 'steps');
    const t0 = performance.now();
    let tokens = 0;
    let last = { epoch: NaN, loss: NaN };
    let fields: Record<string, string | number> = {};
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffled(blocks, g);
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const batch = order.slice(s * bs, (s + 1) * bs);
        const ids = tensor(batch, { dtype: 'int32' });
        opt.zeroGrad();
        const { loss } = model.forward({ inputIds: ids, labels: ids });
        loss!.backward();
        opt.step();
        const l = loss!.item();
        if (!Number.isFinite(l)) throw new Error(`train-lora: the loss became ${l} at epoch ${epoch + 1}, step ${s + 1}; try a smaller --lr`);
        lossSum += l;
        tokens += ids.numel();
        const tokS = tokens / Math.max((performance.now() - t0) / 1000, 1e-9);
        fields = { epoch: `${epoch + 1}/${epochs}`, loss: l, 'tokens/s': tokS.toFixed(0) };
        bar.update(epoch * stepsPerEpoch + s + 1, fields);
      }
      last = { epoch: epoch + 1, loss: lossSum / stepsPerEpoch };
    }
    bar.done(fields);
    peft.eval();
    const evalLoss = noGrad(() => meanLoss(model, blocks, bs));
    await peft.savePretrained(String(o.out));
    console.log(`LoRA adapter written to ${o.out} (r ${o.r}, ${trainable} trainable parameters; ${blocks.length} blocks of up to ${maxLength} tokens; epoch ${last.epoch} mean loss ${last.loss.toFixed(4)}, final loss ${evalLoss.toFixed(4)}, perplexity ${Math.exp(evalLoss).toFixed(2)})`);
  },
};

/** The causal-LM loss over every block, without dropout. */
function meanLoss(model: NemotronForCausalLM, blocks: readonly number[][], bs: number): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < blocks.length; i += bs) {
    const ids = tensor(blocks.slice(i, i + bs), { dtype: 'int32' });
    const w = ids.numel();
    sum += model.forward({ inputIds: ids, labels: ids }).loss!.item() * w;
    n += w;
  }
  return sum / n;
}
