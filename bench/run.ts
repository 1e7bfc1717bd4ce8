// `pnpm bench`: runs every benchmark suite (or those named on the command line) and prints its table.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const suites = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
for (const f of suites) {
  const mod = (await import(join(here, f))) as { run: () => Promise<void> };
  await mod.run();
}
