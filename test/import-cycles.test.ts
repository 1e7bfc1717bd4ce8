// No import cycles among the source files of any package (`import type` edges count), with one allowed seam:
// packages/tensor/src/tensor.ts, whose Tensor methods call the ops that build tensors, as in every eager library.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SEAM = 'packages/tensor/src/tensor.ts';

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative specifiers of a file's static imports and re-exports (type-only ones included; dynamic import() not). */
export function staticImports(source: string): string[] {
  const out: string[] = [];
  const re = /^\s*(?:import|export)\s+(?:type\s+)?(?:[\w*\s{},$]*?\s+from\s+)?['"](\.[^'"]+)['"]/gm;
  for (const m of source.matchAll(re)) out.push(m[1]!);
  return out;
}

function resolveSpecifier(from: string, spec: string): string {
  const base = resolve(dirname(from), spec.replace(/\.js$/, ''));
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* try the next form */
    }
  }
  throw new Error(`${relative(ROOT, from)}: cannot resolve import '${spec}'`);
}

/** The strongly connected components with a cycle (Tarjan), each as a sorted list of nodes. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import graph', () => {
  it('finds cycles in a small graph, and only them', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a', 'd']], ['e', ['a']]]);
    expect(cycles(g)).toEqual([['a', 'b', 'c'], ['d']]);
    expect(staticImports(`import { x } from './a.js';\nimport type { Y } from "../b.js";\nexport * from './c.js';\nconst z = await import('./d.js');\nimport fs from 'node:fs';`)).toEqual(['./a.js', '../b.js', './c.js']);
  });

  it('has no cycle in packages/*/src except through tensor.ts', () => {
    const graph = new Map<string, string[]>();
    for (const pkg of readdirSync(join(ROOT, 'packages'))) {
      const src = join(ROOT, 'packages', pkg, 'src');
      for (const file of tsFiles(src)) {
        const from = relative(ROOT, file);
        const to = staticImports(readFileSync(file, 'utf8')).map((s) => relative(ROOT, resolveSpecifier(file, s)));
        graph.set(from, from === SEAM ? [] : to.filter((t) => t !== SEAM));
      }
    }
    expect(graph.size).toBeGreaterThan(50);
    expect(cycles(graph)).toEqual([]);
  });
});
