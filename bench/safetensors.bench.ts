// safetensors load/save throughput (MB/s) on a transformer-shaped checkpoint (~256 MB by default; SAFETENSORS_BENCH_MB
// to change), against the raw cost of reading the same file with one fs.readFile (the floor for any loader).
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../packages/tensor/dist/index.js';
import { medianMs, printTable } from './util.js';

export async function run(): Promise<void> {
  const targetMb = Number(process.env.SAFETENSORS_BENCH_MB ?? 256);
  const hidden = 1024;
  const dir = mkdtempSync(join(tmpdir(), 'tz-st-bench-'));
  try {
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const bytesPer = dtype === 'float32' ? 4 : 2;
      // Layers of 4 x [hidden, hidden] + 2 x [4 hidden, hidden] weights and two [hidden] norms.
      const perLayer = (4 + 8) * hidden * hidden * bytesPer;
      const layers = Math.max(1, Math.round((targetMb * 2 ** 20) / perLayer));
      const m = new Map<string, T.Tensor>();
      const mk = (shape: number[]) => (dtype === 'float32' ? T.randn(shape) : T.cast(T.randn(shape), 'bfloat16'));
      for (let l = 0; l < layers; l++) {
        for (const p of ['q', 'k', 'v', 'o']) m.set(`model.layers.${l}.self_attn.${p}_proj.weight`, mk([hidden, hidden]));
        m.set(`model.layers.${l}.mlp.up_proj.weight`, mk([4 * hidden, hidden]));
        m.set(`model.layers.${l}.mlp.down_proj.weight`, mk([hidden, 4 * hidden]));
        m.set(`model.layers.${l}.input_layernorm.weight`, mk([hidden]));
        m.set(`model.layers.${l}.post_attention_layernorm.weight`, mk([hidden]));
      }
      const path = join(dir, `${dtype}.safetensors`);
      const saveMs = await medianMs(() => T.saveSafetensors(path, m), 3, 1);
      const size = (await readFile(path)).length;
      const mb = size / 2 ** 20;
      const rawMs = await medianMs(() => readFile(path), 5, 1);
      const loadMs = await medianMs(async () => void (await T.loadSafetensors(path)), 5, 1);
      const bytes = new Uint8Array(await readFile(path));
      const memMs = await medianMs(async () => void (await T.loadSafetensors(bytes)), 5, 1);
      const serMs = await medianMs(() => T.serializeSafetensors(m), 3, 1);
      printTable(`safetensors ${dtype}: ${m.size} tensors, ${mb.toFixed(0)} MB`, ['operation', 'ms', 'MB/s'], [
        ['fs.readFile (floor)', rawMs, mb / (rawMs / 1000)],
        ['loadSafetensors(path)', loadMs, mb / (loadMs / 1000)],
        ['loadSafetensors(Uint8Array)', memMs, mb / (memMs / 1000)],
        ['saveSafetensors(path)', saveMs, mb / (saveMs / 1000)],
        ['serializeSafetensors', serMs, mb / (serMs / 1000)],
      ]);
      for (const t of m.values()) t.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
