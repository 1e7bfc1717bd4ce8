// Reading files written by Python's safetensors (the Nemotron golden fixtures), and sharded checkpoints.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import { expectRule } from './safetensors.helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const local = join(here, 'fixtures/safetensors');
const shared = '/work/shared/fixtures/nemotron';
const tmp = mkdtempSync(join(tmpdir(), 'tz-safetensors-fx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The header parsed independently with JSON.parse (fine for well-formed files). */
function headerOf(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  delete h.__metadata__;
  return h;
}

describe('safetensors: files written by Python safetensors (committed copies)', () => {
  it('bf16 Nemotron checkpoint: names, dtypes, shapes, metadata, exact bf16 bits, byte-identical rewrite', async () => {
    const p = join(local, 'bf16_model.safetensors');
    const bytes = new Uint8Array(readFileSync(p));
    const h = headerOf(bytes);
    const f = await T.openSafetensors(p);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect([...f.names].sort()).toEqual(Object.keys(h).sort());
    expect(f.names.length).toBe(24);
    expect(f.info('lm_head.weight')).toMatchObject({ dtype: 'BF16', shape: [40, 24] });
    expect(f.info('model.embed_tokens.weight')).toMatchObject({ dtype: 'BF16', shape: [40, 24] });
    expect(f.info('model.layers.0.input_layernorm.weight')).toMatchObject({ dtype: 'BF16', shape: [24] });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    for (const name of f.names) {
      const t = await f.get(name);
      expect(t.dtype).toBe('bfloat16');
      expect(t.shape).toEqual(h[name]!.shape);
      // Decoded values are exactly bits << 16 of the file's bytes.
      const [b, e] = h[name]!.data_offsets;
      const dv = new DataView(bytes.buffer, 8 + n + b, e - b);
      const want = Array.from({ length: (e - b) / 2 }, (_, i) => new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0]);
      expect(Array.from(t.dataSync())).toEqual(want);
    }
    await f.close();
    // Python wrote it with the same ordering and padding rules as our writer: rewriting gives the same bytes.
    expect(T.serializeSafetensors(await T.loadSafetensors(p), { format: 'pt' })).toEqual(bytes);
  });

  it('io tensors: I64 narrowed to int32 (including -100 labels), F32 and a 0-d F32 loss', async () => {
    const m = await T.loadSafetensors(join(local, 'io_i64_f32.safetensors'));
    const f = await T.openSafetensors(join(local, 'io_i64_f32.safetensors'));
    expect(f.info('input_ids')).toMatchObject({ dtype: 'I64', shape: [2, 8] });
    expect(f.info('expected.loss')).toMatchObject({ dtype: 'F32', shape: [] });
    await f.close();
    expect(m.get('input_ids')!.dtype).toBe('int32');
    expect(m.get('labels')!.dtype).toBe('int32');
    expect(m.get('expected.logits')!.shape).toEqual([2, 8, 40]);
    expect(m.get('expected.loss')!.shape).toEqual([]);
    expect(Number.isFinite(m.get('expected.loss')!.item())).toBe(true);
    const ids = Array.from(m.get('input_ids')!.dataSync());
    expect(ids.every((v) => v >= 0 && v < 40)).toBe(true);
    const labels = Array.from(m.get('labels')!.dataSync());
    expect(labels.every((v) => v === -100 || (v >= 0 && v < 40))).toBe(true);
    expect(Array.from(m.get('attention_mask')!.dataSync()).every((v) => v === 0 || v === 1)).toBe(true);
  });
});

describe.skipIf(!existsSync(shared))('safetensors: the shared Nemotron fixtures', () => {
  it('every .safetensors file loads, and agrees with an independent JSON.parse of its header and with case.json', async () => {
    let count = 0;
    for (const c of readdirSync(shared)) {
      const dir = join(shared, c);
      if (!existsSync(join(dir, 'case.json'))) continue;
      for (const fn of readdirSync(dir).filter((x) => x.endsWith('.safetensors'))) {
        const p = join(dir, fn);
        const h = headerOf(new Uint8Array(readFileSync(p)));
        const f = await T.openSafetensors(p);
        expect([...f.names].sort(), p).toEqual(Object.keys(h).sort());
        for (const name of f.names) expect(f.info(name), `${p} ${name}`).toMatchObject({ dtype: h[name]!.dtype, shape: h[name]!.shape });
        await f.close();
        const m = await T.loadSafetensors(p);
        for (const [name, t] of m) {
          expect(t.shape).toEqual(h[name]!.shape);
          expect(t.dtype).toBe({ F32: 'float32', BF16: 'bfloat16', I64: 'int32', F64: 'float64', F16: 'float16', I32: 'int32', BOOL: 'bool' }[h[name]!.dtype]);
        }
        count++;
      }
      const cse = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { tensors?: Record<string, { dtype: string; shape: number[] }> };
      const io = await T.openSafetensors(join(dir, 'io.safetensors'));
      for (const [name, spec] of Object.entries(cse.tensors ?? {})) {
        if (io.has(name)) expect(io.info(name), `${c} ${name}`).toMatchObject({ dtype: spec.dtype, shape: spec.shape });
      }
      await io.close();
    }
    expect(count).toBeGreaterThan(40);
  });

  it('sharded_checkpoint: index weight_map, lazy shards, same tensors as the shards hold', async () => {
    const dir = join(shared, 'sharded_checkpoint');
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string>; metadata: { total_size: number } };
    const sh = await T.openShardedSafetensors(dir);
    expect(sh.names).toEqual(Object.keys(index.weight_map));
    expect(sh.shards).toEqual(['model-00002-of-00002.safetensors', 'model-00001-of-00002.safetensors']);
    expect(sh.metadata).toMatchObject({ total_size: index.metadata.total_size });
    let total = 0;
    for (const n of sh.names) total += (await sh.info(n)).byteLength;
    expect(total).toBe(index.metadata.total_size);
    await sh.close();
    const all = await T.loadShardedSafetensors(join(dir, 'model.safetensors.index.json'));
    expect([...all.keys()]).toEqual(Object.keys(index.weight_map));
    for (const shard of new Set(Object.values(index.weight_map))) {
      const m = await T.loadSafetensors(join(dir, shard));
      for (const [k, t] of m) expect(Array.from(all.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
    }
  });
});

describe('safetensors: sharded index validation', () => {
  let k = 0;
  /** A checkpoint folder with shards a.safetensors (x, y) and b.safetensors (z) and the given index text. */
  function ckpt(index: unknown, opts: { corruptB?: boolean } = {}): string {
    const dir = join(tmp, `ck${k++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.safetensors'), T.serializeSafetensors({ x: T.tensor([1, 2], { dtype: 'float32' }), y: T.tensor([3], { dtype: 'int32' }) }));
    writeFileSync(join(dir, 'b.safetensors'), opts.corruptB ? new Uint8Array(3) : T.serializeSafetensors({ z: T.ones([2, 2]) }));
    writeFileSync(join(dir, 'model.safetensors.index.json'), typeof index === 'string' ? index : JSON.stringify(index));
    return dir;
  }
  const idx = (dir: string) => join(dir, 'model.safetensors.index.json');
  const wm = { x: 'a.safetensors', y: 'a.safetensors', z: 'b.safetensors' };

  it('loads, from the folder or the index path', async () => {
    const dir = ckpt({ metadata: { total_size: 28 }, weight_map: wm });
    for (const p of [dir, idx(dir)]) {
      const m = await T.loadShardedSafetensors(p);
      expect([...m.keys()]).toEqual(['x', 'y', 'z']);
      expect(Array.from(m.get('z')!.dataSync())).toEqual([1, 1, 1, 1]);
    }
  });
  it('opens shards lazily: a broken shard only fails when one of its tensors is used', async () => {
    const dir = ckpt({ weight_map: wm }, { corruptB: true });
    const sh = await T.openShardedSafetensors(dir);
    expect(sh.shardOf('z')).toBe('b.safetensors');
    expect(Array.from((await sh.get('x')).dataSync())).toEqual([1, 2]);
    await expectRule(sh.get('z'), 'header-too-small', { file: join(dir, 'b.safetensors') });
    await expectRule(sh.get('nope'), 'unknown-tensor', { file: idx(dir), tensor: 'nope' });
    await sh.close();
    await expectRule(sh.get('x'), 'closed', { file: idx(dir) });
  });
  it('a tensor listed twice in weight_map', async () => {
    const dir = ckpt('{"weight_map":{"x":"a.safetensors","y":"a.safetensors","x":"b.safetensors"}}');
    await expectRule(T.openShardedSafetensors(dir), 'duplicate-key', { file: idx(dir), tensor: 'x', match: /listed twice/ });
  });
  it('a shard file that does not exist', async () => {
    const dir = ckpt({ weight_map: { ...wm, w: 'c.safetensors' } });
    await expectRule(T.openShardedSafetensors(dir), 'missing-shard', { file: idx(dir), tensor: 'w', match: /c\.safetensors/ });
  });
  it('a tensor that its shard does not hold', async () => {
    const dir = ckpt({ weight_map: { ...wm, w: 'b.safetensors' } });
    await expectRule(T.loadShardedSafetensors(dir), 'missing-tensor', { file: join(dir, 'b.safetensors'), tensor: 'w' });
  });
  it('malformed indexes', async () => {
    for (const bad of ['{', '[]', '{}', '{"weight_map":[]}', '{"weight_map":{"x":1}}', '{"weight_map":{"x":"../a.safetensors"}}', '{"weight_map":{"x":"/etc/passwd"}}', '{"weight_map":{"x":""}}', '{"weight_map":{},"metadata":3}']) {
      const dir = ckpt(bad);
      await expectRule(T.openShardedSafetensors(dir), 'invalid-index', { file: idx(dir) });
    }
    await expectRule(T.openShardedSafetensors(join(tmp, 'nowhere')), 'io', { file: join(tmp, 'nowhere') });
  });
  it('works with a copied real shard pair too', async () => {
    if (!existsSync(join(shared, 'sharded_checkpoint'))) return;
    const dir = join(tmp, 'real');
    mkdirSync(dir);
    for (const f of readdirSync(join(shared, 'sharded_checkpoint'))) copyFileSync(join(shared, 'sharded_checkpoint', f), join(dir, f));
    expect((await T.loadShardedSafetensors(dir)).size).toBe(24);
  });
});
