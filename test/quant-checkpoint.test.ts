// Quantized checkpoints: savePretrained writes quantized weights as `<module>.qweight` (U8 llama.cpp blocks) with a
// quantization_config in config.json, and fromPretrained reads them back bit for bit, from a folder or a set of
// files or a URL. The layout is checked against an independent decoder written from the README's description (as numpy would).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f16ToNumber, Generator, getBackend, noGrad, openSafetensors, quantize, randn, serializeSafetensors, tensor, type Tensor } from '@tensorzoo/tensor';
import { NemotronConfig, NemotronForCausalLM, type QuantizationConfig } from '@tensorzoo/nemotron';
import { serveStatic } from '../scripts/static-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHIPPED = join(ROOT, 'models', 'kjv-nemotron-mini');
const tmp = mkdtempSync(join(tmpdir(), 'tz-qckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The raw storage of a tensor (block bytes for quantized dtypes), to compare bit for bit. */
function rawBytes(t: Tensor): Uint8Array {
  const a = getBackend(t.device).readSync!(t.storage);
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

/** Every state-dict tensor of `b` has the dtype, shape and bytes of `a`'s. */
function expectBitIdentical(a: NemotronForCausalLM, b: NemotronForCausalLM): void {
  const sa = a.stateDict();
  const sb = b.stateDict();
  expect([...sb.keys()].sort()).toEqual([...sa.keys()].sort());
  for (const [k, t] of sa) {
    const u = sb.get(k)!;
    expect([k, u.dtype, u.shape]).toEqual([k, t.dtype, t.shape]);
    expect(Buffer.from(rawBytes(u)).equals(Buffer.from(rawBytes(t))), k).toBe(true);
  }
}

function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

const ids = tensor([[2, 17, 403, 99, 1024, 7, 3000, 12]], { dtype: 'int32' });
const logits = (m: NemotronForCausalLM) => noGrad(() => m.forward({ inputIds: ids }).logits).dataSync();

describe('quantize, save and load the shipped model', () => {
  const models = new Map<'q8' | 'q4', NemotronForCausalLM>();
  beforeAll(async () => {
    for (const q of ['q8', 'q4'] as const) {
      const m = await NemotronForCausalLM.fromPretrained(SHIPPED, { dtype: q });
      await m.savePretrained(join(tmp, `shipped-${q}`));
      models.set(q, m);
    }
  });

  it('writes <module>.qweight U8 blocks (and no .weight) for the quantized Linears, and a quantization_config', async () => {
    for (const [q, fmt, bytes] of [['q8', 'q8_0', 34], ['q4', 'q4_0', 18]] as const) {
      const dir = join(tmp, `shipped-${q}`);
      const qc = readConfig(dir).quantization_config as QuantizationConfig;
      // lm_head is tied to the embeddings: left as stored (it is the embedding table)
      expect(qc).toEqual({ quant_method: 'tensorzoo', format: fmt, bits: q === 'q8' ? 8 : 4, group_size: 32, sym: true, lm_head: null, modules_to_not_convert: ['lm_head'] });
      const f = await openSafetensors(join(dir, 'model.safetensors'));
      try {
        const qweights = f.names.filter((n) => n.endsWith('.qweight'));
        expect(qweights.length).toBe(4 * 6);
        expect(f.names.filter((n) => /_proj\.weight$/.test(n))).toEqual([]);
        expect(f.info('model.layers.0.mlp.up_proj.qweight')).toMatchObject({ dtype: 'U8', shape: [1024, (256 / 32) * bytes] });
        expect(f.info('model.layers.0.mlp.down_proj.qweight')).toMatchObject({ dtype: 'U8', shape: [256, (1024 / 32) * bytes] });
        expect(f.info('model.embed_tokens.weight').dtype).toBe('BF16');
      } finally {
        await f.close();
      }
    }
  });

  it('the .qweight bytes decode as the README describes (f16 scale then int8 / offset-8 nibbles) to the in-memory weights', async () => {
    for (const q of ['q8', 'q4'] as const) {
      const f = await openSafetensors(join(tmp, `shipped-${q}`, 'model.safetensors'));
      try {
        const key = 'model.layers.2.self_attn.o_proj';
        const raw = Uint8Array.from((await f.get(`${key}.qweight`)).dataSync()); // U8 reads as int32 values 0..255
        const [out, rowBytes] = f.info(`${key}.qweight`).shape as [number, number];
        const B = q === 'q8' ? 34 : 18;
        const inF = (rowBytes / B) * 32;
        const w = new Float32Array(out * inF);
        for (let b = 0; b < raw.length / B; b++) {
          const o = b * B;
          const d = f16ToNumber(raw[o]! | (raw[o + 1]! << 8));
          for (let j = 0; j < 32; j++) {
            const v = q === 'q8' ? (raw[o + 2 + j]! << 24) >> 24 : (j < 16 ? raw[o + 2 + j]! & 15 : raw[o + 2 + j - 16]! >> 4) - 8;
            w[b * 32 + j] = Math.fround(v * d);
          }
        }
        const want = models.get(q)!.stateDict().get(`${key}.weight`)!;
        expect(want.dtype).toBe(q === 'q8' ? 'q8_0' : 'q4_0');
        expect([...w]).toEqual([...want.to('float32').dataSync()]);
      } finally {
        await f.close();
      }
    }
  });

  it('fromPretrained reads it back bit-identical (from a folder, a URL and a set of files), with the same logits', async () => {
    const server = await serveStatic({ '/q/': tmp });
    try {
      expectBitIdentical(models.get('q4')!, await NemotronForCausalLM.fromPretrained(`${server.url}q/shipped-q4`));
    } finally {
      server.close();
    }
    for (const q of ['q8', 'q4'] as const) {
      const dir = join(tmp, `shipped-${q}`);
      const back = await NemotronForCausalLM.fromPretrained(dir);
      expectBitIdentical(models.get(q)!, back);
      expect([...logits(back)]).toEqual([...logits(models.get(q)!)]);
      const files = new Map(readdirSync(dir).map((n) => [n, new Uint8Array(readFileSync(join(dir, n)))]));
      expectBitIdentical(models.get(q)!, await NemotronForCausalLM.fromPretrained(files));
      // its own dtype is not a conflict; saving again writes the same bytes
      const again = await NemotronForCausalLM.fromPretrained(dir, { dtype: q });
      await again.savePretrained(join(tmp, `again-${q}`));
      expect(readFileSync(join(tmp, `again-${q}`, 'model.safetensors')).equals(readFileSync(join(dir, 'model.safetensors')))).toBe(true);
    }
  });

  it('a conflicting dtype is a clear error', async () => {
    const dir = join(tmp, 'shipped-q4');
    await expect(NemotronForCausalLM.fromPretrained(dir, { dtype: 'q8' })).rejects.toThrow(/the checkpoint is quantized \(q4_0, quantization_config in config\.json\); dtype 'q8' conflicts/);
    await expect(NemotronForCausalLM.fromPretrained(dir, { dtype: 'float32' })).rejects.toThrow(/dtype 'float32' conflicts/);
    await expect(NemotronForCausalLM.fromPretrained(SHIPPED, { dtype: 'q4_0' })).rejects.toThrow(/dtype 'q4_0' is a block format; quantize on load with dtype 'q4'/);
  });

  it('a quantization_config that is not tensorzoo\'s is refused by name', async () => {
    const dir = join(tmp, 'shipped-q8');
    const files = new Map(readdirSync(dir).map((n) => [n, new Uint8Array(readFileSync(join(dir, n)))]));
    const config = readConfig(dir);
    config.quantization_config = { quant_method: 'gptq', bits: 4, group_size: 128 };
    files.set('config.json', new TextEncoder().encode(JSON.stringify(config)));
    await expect(NemotronForCausalLM.fromPretrained(files)).rejects.toThrow(/quantization_config has quant_method "gptq"; tensorzoo reads only its own/);
  });
});

describe('an untied lm_head', () => {
  it('is quantized to q8_0 under q4 and q8, saved as lm_head.qweight and read back bit-identical', async () => {
    const config = new NemotronConfig({
      vocab_size: 96, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
      tie_word_embeddings: false, max_position_embeddings: 64,
    });
    const dir = join(tmp, 'untied');
    await noGrad(() => new NemotronForCausalLM(config, { generator: new Generator(3) })).savePretrained(dir, { dtype: 'bfloat16' });
    for (const q of ['q8', 'q4'] as const) {
      const m = await NemotronForCausalLM.fromPretrained(dir, { dtype: q });
      expect(m.loadingInfo.notQuantized).toEqual([]);
      expect(m.lm_head.weight.dtype).toBe('q8_0');
      expect(m.stateDict().get('model.layers.1.mlp.down_proj.weight')!.dtype).toBe(q === 'q8' ? 'q8_0' : 'q4_0');
      expect(m.model.embed_tokens.weight.dtype).toBe('bfloat16');
      const out = join(tmp, `untied-${q}`);
      await m.savePretrained(out);
      expect((readConfig(out).quantization_config as QuantizationConfig).lm_head).toBe('q8_0');
      const back = await NemotronForCausalLM.fromPretrained(out);
      expectBitIdentical(m, back);
      const ids2 = tensor([[1, 5, 9, 2, 7]], { dtype: 'int32' });
      const l = (x: NemotronForCausalLM) => [...noGrad(() => x.forward({ inputIds: ids2 }).logits).dataSync()];
      expect(l(back)).toEqual(l(m));
    }
  });
});

describe('safetensors I/O of a quantized tensor', () => {
  it('is written as U8 [out, in / 32 * block bytes] and read back with { quantized } bit for bit; other dtypes are refused', async () => {
    const w = randn([6, 64], { generator: new Generator(5) });
    for (const [q, bytes] of [['q8_0', 34], ['q4_0', 18]] as const) {
      const t = quantize(w, q);
      const f = await openSafetensors(serializeSafetensors({ w: t, f: w }));
      expect(f.info('w')).toMatchObject({ dtype: 'U8', shape: [6, 2 * bytes], byteLength: 6 * 2 * bytes });
      const back = await f.get('w', { quantized: q });
      expect([back.dtype, back.shape]).toEqual([q, [6, 64]]);
      expect(Buffer.from(rawBytes(back)).equals(Buffer.from(rawBytes(t)))).toBe(true);
      await expect(f.get('f', { quantized: q })).rejects.toThrow(new RegExp(`F32 \\[6, 64\\] is not the U8 block bytes of a ${q} tensor`));
      await expect(f.get('w', { quantized: q === 'q8_0' ? 'q4_0' : 'q8_0' })).rejects.toThrow(/is not the U8 block bytes/);
    }
  });
});
