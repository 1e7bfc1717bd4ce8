// `pnpm bench`: runs every benchmark suite (or those named on the command line) and prints its table.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stealMeter } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
const steal = stealMeter();
for (const f of suites) {
  const mod = (await import(join(here, f))) as { run: () => Promise<void> };
  await mod.run();
}
const stolen = steal();
// every table's ratio is within one run, but absolute figures move with what the host took meanwhile
if (stolen !== null) console.log(`\nCPU time the host took (steal) during these benchmarks: ${stolen.toFixed(1)}%`);
