// `pnpm browser`: bundles examples/browser with esbuild and serves it on 127.0.0.1 with the COOP/COEP headers
// (cross-origin isolation: SharedArrayBuffer, so the CPU backend runs on worker threads), the shipped model
// under /models/, the training data under /data/. Options: --port N (default 8080; 0 = any free port), --no-isolate.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Message } from 'esbuild';
import { serveStatic, type StaticServer } from './static-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_DIR = join(ROOT, 'examples', 'browser');

/**
 * Bundles examples/browser/main.ts (the page) and worker.ts (generation in a module Worker) into examples/browser/dist/;
 * returns esbuild's errors and warnings and each bundle's size in bytes.
 */
export async function buildDemo(): Promise<{ errors: Message[]; warnings: Message[]; bytes: number; workerBytes: number }> {
  const r = await build({
    entryPoints: [join(DEMO_DIR, 'main.ts'), join(DEMO_DIR, 'worker.ts')],
    outdir: join(DEMO_DIR, 'dist'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
  });
  const size = (name: string) => r.metafile.outputs[Object.keys(r.metafile.outputs).find((f) => f.endsWith(name))!]!.bytes;
  return { errors: r.errors, warnings: r.warnings, bytes: size('main.js'), workerBytes: size('worker.js') };
}

/** Serves the built demo at /, the repository's models/ at /models/ and examples/data/ at /data/. */
export function serveDemo(opts: { port?: number; isolate?: boolean } = {}): Promise<StaticServer> {
  return serveStatic({ '/': DEMO_DIR, '/models/': join(ROOT, 'models'), '/data/': join(ROOT, 'examples', 'data') }, { isolate: opts.isolate ?? true, port: opts.port });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const portAt = args.indexOf('--port');
  const port = portAt >= 0 ? Number(args[portAt + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected a port number, got ${args[portAt + 1]}`);
  const { errors, warnings, bytes, workerBytes } = await buildDemo();
  for (const m of [...errors, ...warnings]) console.error(`esbuild: ${m.text}${m.location ? ` (${m.location.file}:${m.location.line})` : ''}`);
  if (errors.length) process.exit(1);
  const server = await serveDemo({ port, isolate: !args.includes('--no-isolate') });
  console.log(`bundles: examples/browser/dist/main.js ${(bytes / 1024).toFixed(0)} KiB, dist/worker.js ${(workerBytes / 1024).toFixed(0)} KiB (minified)`);
  console.log(`serving the demo at ${server.url} (Ctrl-C to stop)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
