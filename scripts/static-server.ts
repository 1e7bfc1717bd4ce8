// A small static file server on 127.0.0.1 for the browser demo and the loading tests: GET and HEAD, single byte
// Range requests (206 + Content-Range), and optionally the COOP/COEP headers that make a page cross-origin
// isolated (SharedArrayBuffer, so the CPU backend can use worker threads).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';

/** A running server. */
export interface StaticServer {
  /** Base URL, ending in '/'. */
  url: string;
  /** Every request served: method, path and Range header. */
  requests: { method: string; path: string; range: string | null }[];
  close(): Promise<void>;
}

/** Options of serveStatic. */
export interface ServeOptions {
  /** Send COOP/COEP so pages are cross-origin isolated (default false). */
  isolate?: boolean;
  /** Port on 127.0.0.1 (default: any free port). */
  port?: number;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.map': 'application/json',
  '.jsonl': 'application/jsonl; charset=utf-8',
};

/** Serves `routes` (URL prefix such as '/models/' -> folder; '/' for the root) until close(). */
export async function serveStatic(routes: Record<string, string>, opts: ServeOptions = {}): Promise<StaticServer> {
  const requests: StaticServer['requests'] = [];
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const range = req.headers.range ?? null;
    requests.push({ method: req.method ?? 'GET', path, range });
    if (opts.isolate) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    }
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    const prefix = prefixes.find((p) => path.startsWith(p));
    if (prefix === undefined) return void res.writeHead(404).end();
    const root = resolve(routes[prefix]!);
    let file = resolve(join(root, path.slice(prefix.length)));
    if (file !== root && !file.startsWith(root + sep)) return void res.writeHead(403).end();
    let size: number;
    try {
      let st = await stat(file);
      if (st.isDirectory()) {
        file = join(file, 'index.html');
        st = await stat(file);
      }
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      return void res.writeHead(404).end();
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.setHeader('Accept-Ranges', 'bytes');
    let start = 0;
    let end = size - 1;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (m && (m[1] || m[2])) {
        start = m[1] ? Number(m[1]) : Math.max(0, size - Number(m[2]));
        end = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      }
      if (!m || start > end || start >= size) {
        res.setHeader('Content-Range', `bytes */${size}`);
        return void res.writeHead(416).end();
      }
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
    res.setHeader('Content-Length', String(end - start + 1));
    res.writeHead(range ? 206 : 200);
    if (req.method === 'HEAD' || size === 0) return void res.end();
    createReadStream(file, { start, end }).pipe(res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(opts.port ?? 0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
