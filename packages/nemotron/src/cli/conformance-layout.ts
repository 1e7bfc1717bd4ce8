// The exported conformance suite's layout: file names, and reading its cases back.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.js';
import type { ConformanceCase } from './conformance-schema.js';

export const INPUTS_FILE = 'inputs.safetensors';
export const EXPECTED_FILE = 'expected.safetensors';

/** The cases of an exported suite. */
export function readSuite(dir: string): { dir: string; case: ConformanceCase }[] {
  const root = join(dir, 'cases');
  if (!existsSync(root)) throw new UsageError(`conformance: ${dir} is not an exported suite (no cases/ folder)`);
  return readdirSync(root).sort().filter((n) => existsSync(join(root, n, 'case.json')))
    .map((n) => ({ dir: join(root, n), case: JSON.parse(readFileSync(join(root, n, 'case.json'), 'utf8')) as ConformanceCase }));
}
