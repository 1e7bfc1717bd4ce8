// The version the CLI reports and records in the files it writes.
import { readFileSync } from 'node:fs';

/** The version of @tensorzoo/nemotron (its package.json sits two folders above dist/cli/). */
export function tensorzooVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
