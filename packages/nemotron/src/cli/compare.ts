// tensorzoo compare: two traces (or any two safetensors files) tensor by tensor in A's order, in float64, to find
// the first module where a port leaves the reference: |b - a| <= atol + rtol |a| elementwise, A the reference.
import { existsSync } from 'node:fs';
import { openSafetensors, type SafetensorsFile, type Tensor } from '@tensorzoo/tensor';
import { UsageError, type Command } from './args.js';

/** Default tolerance: that of the golden fixtures (float32 against a float64 truth). */
const DEFAULT_TOL = 1e-4;

const INTEGER_DTYPES = new Set(['I8', 'I16', 'I32', 'I64', 'U8', 'U16', 'U32', 'U64', 'BOOL']);

/** Whether a safetensors dtype ('F32', 'I64', ...) holds integers (compared exactly). */
export function isIntegerDtype(dtype: string): boolean {
  return INTEGER_DTYPES.has(dtype);
}

/** How one tensor of B measures against the same tensor of A. */
export interface TensorComparison {
  name: string;
  shape: number[];
  maxAbs: number;
  /** Largest |b - a| / |a| over the elements where a != 0. */
  maxRel: number;
  /** Every element within atol + rtol |a| (integers: equal). */
  ok: boolean;
  /** The element furthest beyond the tolerance (when not ok): flat index and both values. */
  worst?: { index: number; a: number; b: number };
}

/** The whole comparison. */
export interface Comparison {
  tensors: TensorComparison[];
  missing: string[];
  extra: string[];
  shapeMismatches: { name: string; a: number[]; b: number[] }[];
  /** The first tensor of A's order that is over the tolerance or differs in shape, if any. */
  firstDivergence: string | null;
}

/** Compares two tensors of the same shape elementwise in float64 (integers exactly). */
export function compareTensors(name: string, a: Tensor, b: Tensor, tol: { atol: number; rtol: number }, exact = false): TensorComparison {
  const x = a.double().dataSync();
  const y = b.double().dataSync();
  let maxAbs = 0;
  let maxRel = 0;
  let sawNaN = false;
  let ok = true;
  let worst: TensorComparison['worst'];
  let worstExcess = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!;
    const v = y[i]!;
    if (u === v || (Number.isNaN(u) && Number.isNaN(v))) continue;
    const d = Math.abs(u - v);
    if (Number.isNaN(d)) sawNaN = true;
    else maxAbs = Math.max(maxAbs, d);
    if (u !== 0 && Number.isFinite(u)) maxRel = Math.max(maxRel, d / Math.abs(u));
    const over = exact ? d : d - (tol.atol + tol.rtol * Math.abs(u));
    if (exact || !(over <= 0)) {
      ok = false;
      const rank = Number.isNaN(over) ? Infinity : over;
      if (rank > worstExcess) {
        worstExcess = rank;
        worst = { index: i, a: u, b: v };
      }
    }
  }
  if (sawNaN) maxAbs = maxRel = NaN;
  return { name, shape: [...a.shape], maxAbs, maxRel, ok, ...(worst ? { worst } : {}) };
}

/** Compares every tensor of A with the same-named tensor of B, one pair in memory at a time. */
export async function compareFiles(a: SafetensorsFile, b: SafetensorsFile, tol: { atol: number; rtol: number }, onTensor?: (c: TensorComparison) => void): Promise<Comparison> {
  const out: Comparison = { tensors: [], missing: [], extra: b.names.filter((n) => !a.has(n)), shapeMismatches: [], firstDivergence: null };
  for (const name of a.names) {
    if (!b.has(name)) {
      out.missing.push(name);
      continue;
    }
    const ia = a.info(name);
    const ib = b.info(name);
    if (ia.shape.join(',') !== ib.shape.join(',')) {
      out.shapeMismatches.push({ name, a: ia.shape, b: ib.shape });
      out.firstDivergence ??= name;
      continue;
    }
    const exact = isIntegerDtype(ia.dtype) && isIntegerDtype(ib.dtype);
    const c = compareTensors(name, await a.get(name), await b.get(name), tol, exact);
    out.tensors.push(c);
    onTensor?.(c);
    if (!c.ok) out.firstDivergence ??= name;
  }
  return out;
}

const e = (x: number) => (Number.isNaN(x) ? 'NaN' : x.toExponential(2));

export const compareCommand: Command = {
  name: 'compare',
  summary: 'compare two traces tensor by tensor and name the first one over the tolerance (exit 1)',
  positionals: [
    { name: 'A.safetensors', help: 'the reference, e.g. a tensorzoo trace (its order is the walk order)' },
    { name: 'B.safetensors', help: 'the trace to check, e.g. one written by a port' },
  ],
  options: {
    atol: { type: 'number', arg: 'X', help: 'absolute tolerance', default: DEFAULT_TOL, min: 0 },
    rtol: { type: 'number', arg: 'Y', help: 'relative tolerance (relative to A)', default: DEFAULT_TOL, min: 0 },
  },
  async run(o) {
    const paths = [o['A.safetensors'] as string, o['B.safetensors'] as string];
    for (const p of paths) if (!existsSync(p)) throw new UsageError(`compare: ${p} does not exist`);
    const tol = { atol: o.atol as number, rtol: o.rtol as number };
    const [a, b] = [await openSafetensors(paths[0]!), await openSafetensors(paths[1]!)];
    try {
      const width = Math.min(60, Math.max(0, ...a.names.map((n) => n.length)));
      const shapeOf = (shape: number[]) => `[${shape.join(',')}]`;
      const shapeWidth = Math.max(0, ...a.names.map((n) => shapeOf(a.info(n).shape).length));
      const dtype = (f: SafetensorsFile) => (f.metadata.dtype ? `${f.metadata.dtype}, ` : '');
      console.log(`A ${paths[0]} (${dtype(a)}${a.names.length} tensors)\nB ${paths[1]} (${dtype(b)}${b.names.length} tensors)`);
      console.log(`each element: |b - a| <= ${tol.atol} + ${tol.rtol} |a| (in float64; integers exactly)\n`);
      const r = await compareFiles(a, b, tol, (c) => {
        console.log(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${shapeOf(c.shape).padEnd(shapeWidth)}  max abs ${e(c.maxAbs)}  max rel ${e(c.maxRel)}`);
      });
      const list = (xs: string[]) => xs.join(', ');
      if (r.missing.length) console.log(`missing in B (${r.missing.length}): ${list(r.missing)}`);
      if (r.extra.length) console.log(`extra in B (${r.extra.length}): ${list(r.extra)}`);
      for (const m of r.shapeMismatches) console.log(`shape mismatch: ${m.name}: A [${m.a.join(',')}], B [${m.b.join(',')}]`);
      if (r.firstDivergence) {
        const c = r.tensors.find((t) => t.name === r.firstDivergence);
        const why = c ? `max abs error ${e(c.maxAbs)}, max rel error ${e(c.maxRel)}` : 'shapes differ';
        console.log(`\nfirst divergence: ${r.firstDivergence} (${why}); ${r.tensors.filter((t) => !t.ok).length + r.shapeMismatches.length} of ${r.tensors.length + r.shapeMismatches.length} shared tensors differ`);
        return 1;
      }
      if (r.tensors.length === 0) {
        console.log('\nno tensor in common');
        return 1;
      }
      console.log(`\nall ${r.tensors.length} shared tensors agree`);
      return 0;
    } finally {
      await a.close();
      await b.close();
    }
  },
};
