// tensorzoo finetune (alias train-lora): fine-tunes a causal LM on plain text with a LoRA adapter (PEFT's formula),
// the base weights frozen, with a validation split, perplexity, early stopping and --resume; the output folder holds
// the best adapter so far in PEFT's layout (adapter_config.json + adapter_model.safetensors) and the training state.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, noGrad, openSafetensors, tensor } from '@tensorzoo/tensor';
import { AdamW, loadTrainingState, Module, saveTrainingState, type LoraLinear } from '@tensorzoo/nn';
import { applyLora, NemotronForCausalLM } from '../index.js';
import { shuffled } from '../head-training.js';
import { DEVICE, SEED, UsageError, type Command } from './args.js';
import { CONTEXT } from './context.js';
import { packBlocks, readTexts } from './corpus.js';
import { loadingProgress, loadTokenizer, openModelDir, useDevice } from './model-dir.js';
import { Progress } from './progress.js';

/** Tokens per block unless --max-length says otherwise (or the model's context is shorter). */
const DEFAULT_MAX_LENGTH = 128;

/** The checkpoint --resume reads, next to the adapter in --out. */
export const FINETUNE_STATE_NAME = 'finetune.state.safetensors';

/** Options a resumed run must share with the run that wrote the checkpoint (the others, e.g. --epochs, may change). */
const RESUME_KEYS = ['data', 'seed', 'val-split', 'max-length', 'batch-size', 'lr', 'lora-r', 'lora-alpha', 'lora-dropout', 'target-modules', 'rslora'] as const;

/** Only the LoRA A/B matrices, so the checkpoint holds the adapter and not the frozen base weights. */
class AdapterWeights extends Module {
  constructor(layers: readonly [string, LoraLinear][]) {
    super();
    for (const [name, layer] of layers) {
      const key = name.replaceAll('.', '_');
      this.registerModule(`${key}_lora_A`, layer.lora_A);
      this.registerModule(`${key}_lora_B`, layer.lora_B);
    }
  }
}

/** Where training stands after an epoch: saved in the checkpoint's metadata. */
interface Progression {
  options: Record<string, string | number | boolean | null>;
  /** Epochs completed. */
  epoch: number;
  /** Validation loss before training (the base model, B = 0). */
  initialLoss: number;
  /** Validation loss after the last completed epoch (shown in the progress line). */
  lastLoss: number;
  /** The best validation loss and its epoch (0: before training). */
  best: { loss: number; epoch: number };
}

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'fine-tune a causal LM on text with a LoRA adapter (PEFT\'s format), with validation, early stopping and --resume',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'base model folder; default: the shipped model' },
    data: { type: 'string', arg: 'FILE', help: 'training text: .txt (documents separated by blank lines) or .jsonl lines {"text": ...}', required: true },
    out: { type: 'string', arg: 'DIR', help: 'where to write the best adapter (adapter_config.json + adapter_model.safetensors) and the training state', required: true },
    'lora-r': { type: 'int', arg: 'N', help: 'rank of the LoRA update', default: 8, min: 1 },
    'lora-alpha': { type: 'number', arg: 'A', help: 'lora_alpha: the update is scaled by alpha / r', default: 16, min: 0, minOpen: true },
    'lora-dropout': { type: 'number', arg: 'P', help: 'lora_dropout on the adapter\'s input', default: 0, min: 0, max: 1, maxOpen: true },
    'target-modules': { type: 'string', arg: 'a,b,...', help: 'names of the Linear layers to adapt, or all-linear', default: 'q_proj,v_proj' },
    rslora: { type: 'boolean', help: 'rsLoRA: scale by alpha / sqrt(r)' },
    epochs: { type: 'int', arg: 'N', help: 'passes over the training blocks', default: 3, min: 1 },
    lr: { type: 'number', arg: 'LR', help: 'AdamW learning rate', default: 1e-3, min: 0, minOpen: true },
    'batch-size': { type: 'int', arg: 'N', help: 'blocks per step', default: 8, min: 1 },
    'max-length': { type: 'int', arg: 'N', help: `tokens per block (the text is packed into blocks); default: ${DEFAULT_MAX_LENGTH} or the model's context when shorter`, min: 2, max: { of: (c) => c.max_position_embeddings, name: CONTEXT } },
    'val-split': { type: 'number', arg: 'F', help: 'fraction of the blocks held out for validation (at least one block)', default: 0.1, min: 0, minOpen: true, max: 1, maxOpen: true },
    patience: { type: 'int', arg: 'N', help: 'stop after N epochs without a better validation loss', default: 3, min: 1 },
    seed: { ...SEED, help: 'seed of the split, the adapter init, dropout and the shuffles' },
    resume: { type: 'boolean', help: `continue from the training state saved in --out (${FINETUNE_STATE_NAME})` },
    device: DEVICE,
  },
  async run(o) {
    const cmd = this.name;
    const out = String(o.out);
    const stateFile = join(out, FINETUNE_STATE_NAME);
    const options = Object.fromEntries(RESUME_KEYS.map((k) => [k, o[k] ?? null]));
    let saved: Progression | undefined;
    if (o.resume) saved = await readProgression(cmd, stateFile, options);
    await useDevice(String(o.device));
    const targets = String(o['target-modules']).split(',').map((s) => s.trim()).filter(Boolean);
    if (targets.length === 0) throw new UsageError(`${cmd}: --target-modules needs at least one name`);
    const { dir, config } = await openModelDir(this, o);
    const maxLength = (o['max-length'] as number | undefined) ?? Math.min(DEFAULT_MAX_LENGTH, config.max_position_embeddings);
    const docs = await readTexts(String(o.data));
    const tok = await loadTokenizer(dir);
    const blocks = packBlocks(docs.map((d) => tok.encode(d)), maxLength, tok.eosTokenId ?? null);
    const seed = o.seed as number;
    const g = new Generator(seed);
    const order = shuffled(blocks, g);
    const nVal = Math.max(1, Math.round(blocks.length * (o['val-split'] as number)));
    if (blocks.length - nVal < 1) throw new UsageError(`${cmd}: ${blocks.length} block(s) of ${maxLength} tokens are too few for a training and a validation split; give more text or a smaller --max-length`);
    const val = order.slice(0, nVal);
    const train = order.slice(nVal);

    const model = await NemotronForCausalLM.fromPretrained(dir, loadingProgress());
    const r = o['lora-r'] as number;
    let peft;
    try {
      peft = applyLora(model, {
        taskType: 'CAUSAL_LM', baseModelNameOrPath: dir, r, loraAlpha: o['lora-alpha'] as number, loraDropout: o['lora-dropout'] as number,
        targetModules: targets.length === 1 && targets[0] === 'all-linear' ? 'all-linear' : targets, useRslora: o.rslora === true, generator: g,
      });
    } catch (e) {
      throw new UsageError(`${cmd}: ${(e as Error).message.replace(/^LoraModel: /, '')}`);
    }
    const { trainable, total } = peft.getNbTrainableParameters();
    process.stderr.write(`trainable params: ${trainable} || all params: ${total} || trainable%: ${((100 * trainable) / total).toFixed(4)}\n`);
    const weights = new AdapterWeights(peft.base_model.loraLayers());
    const opt = new AdamW([...peft.parameters()].filter((p) => p.requiresGrad), { lr: o.lr as number, weightDecay: 0 });
    const bs = o['batch-size'] as number;
    const validate = (): number => {
      peft.eval();
      const l = noGrad(() => meanLoss(model, val, bs));
      peft.train();
      return l;
    };

    let state: Progression;
    if (saved) {
      await loadTrainingState(stateFile, { model: weights, optimizer: opt });
      state = saved;
      process.stderr.write(`resuming after epoch ${state.epoch} (best validation loss ${state.best.loss.toFixed(4)} at epoch ${state.best.epoch})\n`);
    } else {
      const initialLoss = validate();
      state = { options, epoch: 0, initialLoss, lastLoss: initialLoss, best: { loss: initialLoss, epoch: 0 } };
      await peft.savePretrained(out);
      await saveTrainingState(stateFile, { model: weights, optimizer: opt, extra: { ...state } });
    }
    report(0, state.initialLoss);
    peft.train();

    const epochs = o.epochs as number;
    const patience = o.patience as number;
    const stepsPerEpoch = Math.ceil(train.length / bs);
    const bar = new Progress('train', Math.max(epochs - state.epoch, 0) * stepsPerEpoch, 'steps');
    const t0 = performance.now();
    let tokens = 0;
    let steps = 0;
    let fields: Record<string, string | number> = {};
    let stopped = false;
    for (let epoch = state.epoch + 1; epoch <= epochs; epoch++) {
      if (state.epoch - state.best.epoch >= patience) {
        stopped = true;
        break;
      }
      // Each epoch reseeds the shuffle and dropout stream, so a resumed run draws what an uninterrupted one would.
      g.manualSeed((seed + epoch) % Number.MAX_SAFE_INTEGER);
      const batches = shuffled(train, g);
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const ids = tensor(batches.slice(s * bs, (s + 1) * bs), { dtype: 'int32' });
        opt.zeroGrad();
        const { loss } = model.forward({ inputIds: ids, labels: ids });
        loss!.backward();
        opt.step();
        const l = loss!.item();
        if (!Number.isFinite(l)) throw new Error(`${cmd}: the loss became ${l} at epoch ${epoch}, step ${s + 1}; try a smaller --lr`);
        lossSum += l;
        tokens += ids.numel();
        const tokS = tokens / Math.max((performance.now() - t0) / 1000, 1e-9);
        fields = { epoch: `${epoch}/${epochs}`, loss: l, 'tokens/s': tokS.toFixed(0), 'val ppl': Math.exp(state.lastLoss).toFixed(2) };
        bar.update(++steps, fields);
      }
      const valLoss = validate();
      state = { ...state, epoch, lastLoss: valLoss };
      if (valLoss < state.best.loss) {
        state.best = { loss: valLoss, epoch };
        await peft.savePretrained(out);
      }
      await saveTrainingState(stateFile, { model: weights, optimizer: opt, extra: { ...state } });
      report(epoch, valLoss, lossSum / stepsPerEpoch);
    }
    if (steps > 0) bar.done(fields, steps);
    if (stopped) process.stderr.write(`early stop after epoch ${state.epoch}: no better validation loss for ${patience} epochs\n`);
    console.log(`LoRA adapter written to ${out} (r ${r}, ${trainable} trainable parameters; ${train.length} training and ${val.length} validation blocks of up to ${maxLength} tokens; best epoch ${state.best.epoch}: validation loss ${state.best.loss.toFixed(4)}, perplexity ${Math.exp(state.best.loss).toFixed(2)}; before training: perplexity ${Math.exp(state.initialLoss).toFixed(2)})`);
  },
};

/** The same command under its first name. */
export const trainLoraCommand: Command = { ...finetuneCommand, name: 'train-lora', summary: 'alias of finetune' };

/** One line per epoch on stderr (epoch 0: before training). */
function report(epoch: number, valLoss: number, trainLoss?: number): void {
  const train = trainLoss === undefined ? '' : `train loss ${trainLoss.toFixed(4)}  `;
  process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}epoch ${epoch}: ${train}val loss ${valLoss.toFixed(4)}  val perplexity ${Math.exp(valLoss).toFixed(4)}\n`);
}

/** The checkpoint's progression, checked against this run's options before any work. */
async function readProgression(cmd: string, stateFile: string, options: Progression['options']): Promise<Progression> {
  if (!existsSync(stateFile)) throw new UsageError(`${cmd}: --resume but ${stateFile} not found (no training state to continue from)`);
  let extra: Progression;
  try {
    const f = await openSafetensors(stateFile);
    extra = JSON.parse(f.metadata.extra ?? '{}') as Progression;
    await f.close();
  } catch (e) {
    throw new UsageError(`${cmd}: --resume: cannot read ${stateFile}: ${(e as Error).message}`);
  }
  if (!extra.options || !extra.best) throw new UsageError(`${cmd}: --resume: ${stateFile} is not a ${cmd} training state`);
  for (const k of RESUME_KEYS) {
    if (extra.options[k] !== options[k]) throw new UsageError(`${cmd}: --resume: the saved run used --${k} ${String(extra.options[k])}, not ${String(options[k])}`);
  }
  return extra;
}

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
