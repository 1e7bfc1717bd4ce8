// Model sources: where fromPretrained reads a checkpoint's files from: a folder (Node), a URL (fetch, with Range
// requests for big files), or files picked or dropped in a page. AutoTokenizer and the models share this one
// abstraction; it lives here because this package depends on nothing, so every other package can use it.
import { fileSize, hasFileSystem, openFile, readFileBytes } from '#fs';

/** Positioned reads of one file (structurally a @tensorzoo/tensor ByteSource, so safetensors reads it directly). */
export interface RangeReader {
  /** The file's path or URL, for messages. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes from `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: fills `target` from `offset` (lets a reader load straight into tensor storage). */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A checkpoint folder, wherever it lives: named files that can be sized, read whole, or read by range. */
export interface ModelSource {
  /** The folder, URL or '<files>', for messages. */
  readonly name: string;
  /** A file's path or URL, for messages. */
  describe(file: string): string;
  /** Size of a file in bytes, or null when the source has no such file. */
  size(file: string): Promise<number | null>;
  /** A whole file; throws "<file>: no such file" when absent. */
  read(file: string): Promise<Uint8Array>;
  /** A file for positioned reads, so a big file is never held whole. */
  open(file: string): Promise<RangeReader>;
}

/** Files picked or dropped in a page: a Map by file name, or the FileList of an `<input type="file">`. */
export type FileSet = ReadonlyMap<string, Blob | ArrayBuffer | Uint8Array> | ArrayLike<File>;

/** What fromPretrained accepts: a folder path (Node), a URL (absolute, or relative to the page), files, or a ModelSource. */
export type ModelSourceLike = string | URL | FileSet | ModelSource;

/** Bytes read so far: of one file, and of every file opened so far (the model loaders open all weight files first). */
export interface LoadProgress {
  file: string;
  fileLoaded: number;
  fileTotal: number;
  loaded: number;
  total: number;
}

/** Called as bytes arrive. */
export type ProgressCallback = (progress: LoadProgress) => void;

/** Joins a folder and a file name with '/', which Node accepts on every platform. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}

function noSuchFile(source: ModelSource, file: string): Error {
  return new Error(`cannot read ${source.describe(file)}: no such file`);
}

/** A folder on disk (Node). */
export function pathSource(dir: string): ModelSource {
  const src: ModelSource = {
    name: dir,
    describe: (file) => joinPath(dir, file),
    size: (file) => fileSize(joinPath(dir, file)),
    async read(file) {
      if ((await fileSize(joinPath(dir, file))) === null) throw noSuchFile(src, file);
      return readFileBytes(joinPath(dir, file));
    },
    async open(file) {
      if ((await fileSize(joinPath(dir, file))) === null) throw noSuchFile(src, file);
      return openFile(joinPath(dir, file));
    },
  };
  return src;
}

// Above this, a server that ignores Range requests makes loading fail rather than hold the whole file.
const MAX_UNRANGED_BYTES = 512 * 2 ** 20;

function httpError(url: string, r: Response): Error {
  return new Error(`cannot read ${url}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`);
}

async function fetchChecked(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new Error(`cannot read ${url}: ${(e as Error).message}`);
  }
}

/** A folder served over HTTP(S): files are fetched, big files read by Range requests. */
export function urlSource(base: string | URL): ModelSource {
  const root = new URL(base);
  if (!root.pathname.endsWith('/')) root.pathname += '/';
  const url = (file: string) => new URL(file, root).href;
  const src: ModelSource = {
    name: root.href,
    describe: url,
    async size(file) {
      const u = url(file);
      const head = await fetchChecked(u, { method: 'HEAD' });
      if (head.status === 404 || head.status === 410) return null;
      const len = head.headers.get('content-length');
      if (head.ok && len !== null && !head.headers.get('content-encoding')) return Number(len);
      // No usable HEAD: one byte by range tells the size in Content-Range.
      const r = await fetchChecked(u, { headers: { Range: 'bytes=0-0' } });
      if (r.status === 404 || r.status === 410) return null;
      if (r.status === 206) {
        await r.body?.cancel();
        const total = /\/(\d+)$/.exec(r.headers.get('content-range') ?? '');
        if (total) return Number(total[1]);
      } else if (r.ok) return (await r.arrayBuffer()).byteLength;
      throw httpError(u, r);
    },
    async read(file) {
      const u = url(file);
      const r = await fetchChecked(u);
      if (r.status === 404 || r.status === 410) throw noSuchFile(src, file);
      if (!r.ok) throw httpError(u, r);
      return new Uint8Array(await r.arrayBuffer());
    },
    async open(file) {
      const u = url(file);
      const size = await src.size(file);
      if (size === null) throw noSuchFile(src, file);
      let whole: Promise<Uint8Array> | null = null; // only when the server ignores Range
      return {
        name: u,
        size,
        async read(offset, length) {
          if (length === 0) return new Uint8Array(0);
          if (whole) return (await whole).subarray(offset, offset + length);
          const r = await fetchChecked(u, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
          if (r.status === 206) {
            const bytes = new Uint8Array(await r.arrayBuffer());
            if (bytes.byteLength !== length) throw new Error(`${u}: asked for ${length} bytes at ${offset}, the server sent ${bytes.byteLength}`);
            return bytes;
          }
          if (!r.ok) throw httpError(u, r);
          if (size > MAX_UNRANGED_BYTES) {
            await r.body?.cancel();
            throw new Error(`${u}: the server ignores Range requests, and the file (${size} bytes) is too big to read whole; serve it from a server that supports Range`);
          }
          whole = r.arrayBuffer().then((b) => new Uint8Array(b));
          return (await whole).subarray(offset, offset + length);
        },
        close: async () => {
          whole = null;
        },
      };
    },
  };
  return src;
}

type FileEntry = Blob | ArrayBuffer | Uint8Array;

function entryBytes(e: FileEntry, offset: number, length: number): Promise<Uint8Array> | Uint8Array {
  if (e instanceof Uint8Array) return e.subarray(offset, offset + length);
  if (e instanceof ArrayBuffer) return new Uint8Array(e, offset, length);
  return e.slice(offset, offset + length).arrayBuffer().then((b) => new Uint8Array(b));
}

/** Files picked or dropped in a page (or any name -> bytes map); entries are matched by file name, folders ignored. */
export function filesSource(files: FileSet): ModelSource {
  const byName = new Map<string, FileEntry>();
  const entries: [string, FileEntry][] = files instanceof Map ? [...(files as ReadonlyMap<string, FileEntry>)] : Array.from(files as ArrayLike<File>, (f) => [f.name, f]);
  for (const [key, entry] of entries) {
    const name = key.split(/[\\/]/).pop()!;
    if (byName.has(name)) throw new Error(`fromPretrained: two of the given files are named ${name}; pass one checkpoint's files`);
    if (!(entry instanceof Blob || entry instanceof ArrayBuffer || entry instanceof Uint8Array)) {
      throw new TypeError(`fromPretrained: file ${key} must be a Blob, File, ArrayBuffer or Uint8Array`);
    }
    byName.set(name, entry);
  }
  const get = (file: string): FileEntry => {
    const e = byName.get(file);
    if (e === undefined) throw noSuchFile(src, file);
    return e;
  };
  const sizeOf = (e: FileEntry) => (e instanceof Blob ? e.size : e.byteLength);
  const src: ModelSource = {
    name: `<files: ${[...byName.keys()].join(', ')}>`,
    describe: (file) => file,
    size: async (file) => {
      const e = byName.get(file);
      return e === undefined ? null : sizeOf(e);
    },
    read: async (file) => {
      const e = get(file);
      return entryBytes(e, 0, sizeOf(e));
    },
    open: async (file) => {
      const e = get(file);
      return { name: file, size: sizeOf(e), read: async (offset, length) => entryBytes(e, offset, length), close: async () => undefined };
    },
  };
  return src;
}

function isModelSource(x: object): x is ModelSource {
  const s = x as Partial<ModelSource>;
  return typeof s.read === 'function' && typeof s.open === 'function' && typeof s.size === 'function' && typeof s.describe === 'function';
}

function isFileList(x: object): x is ArrayLike<File> {
  const l = x as ArrayLike<unknown>;
  return typeof l.length === 'number' && Array.from(l).every((f) => f instanceof Blob && typeof (f as File).name === 'string');
}

/** How modelSource treats a URL: `cache` keeps what it fetches in the browser's Cache API. */
export interface ModelSourceOptions {
  /**
   * Opt-in cache for URL loads, so a page reload reads the checkpoint with no request at all: `true` uses the Cache API
   * storage named 'tensorzoo', a string names another one (`caches.delete(name)` clears it). A cached checkpoint is a
   * snapshot keyed by URL: a file changed on the server is not seen until the storage is cleared. Paths and files
   * ignore it. Throws when the Cache API is missing (Node; a page that is not a secure context).
   */
  cache?: boolean | string;
}

/** The Cache API storage that `cache: true` uses. */
export const DEFAULT_CACHE_NAME = 'tensorzoo';

async function openCache(name: string): Promise<Cache> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) {
    const page = typeof (globalThis as { location?: unknown }).location === 'object';
    throw new Error(
      page
        ? "fromPretrained: the cache option needs the Cache API, and this page has none: browsers offer it only in a secure context (https://, or http://localhost / 127.0.0.1); serve the page from one or drop 'cache'"
        : "fromPretrained: the cache option needs the Cache API (globalThis.caches), which this runtime lacks (Node has none); drop 'cache'",
    );
  }
  try {
    return await storage.open(name);
  } catch (e) {
    throw new Error(`fromPretrained: cannot open the Cache API storage '${name}': ${(e as Error).message}`);
  }
}

/**
 * A URL source whose every answer is kept in a Cache API storage. Entries are per read, not per file: the loaders
 * make the same reads on every load (a safetensors header, then each tensor's byte range), so a reload hits every
 * entry, while the first load keeps its Range reads (progress as bytes arrive, never a whole multi-GB file in one
 * response) and a load cut short keeps what it got. Sizes, absent files included, are cached too, so a reload sends
 * no request (not even HEAD). Each key is the file's URL with a `tensorzoo-cache` query naming the part (`size`,
 * `whole`, or `<offset>-<end>`).
 */
export function cachedSource(inner: ModelSource, name: string = DEFAULT_CACHE_NAME): ModelSource {
  let opened: Promise<Cache> | null = null;
  const cache = () => (opened ??= openCache(name));
  const key = (file: string, part: string) => {
    const u = inner.describe(file);
    return `${u}${u.includes('?') ? '&' : '?'}tensorzoo-cache=${part}`;
  };
  let warned = false;
  // A failed put (storage quota) must not fail the load: it only loses the cache entry.
  const put = async (c: Cache, k: string, body: Uint8Array | string) => {
    try {
      await c.put(k, new Response(body as BodyInit));
    } catch (e) {
      if (!warned) console.warn(`tensorzoo: could not cache ${k} in '${name}' (${(e as Error).message}); loading goes on without it`);
      warned = true;
    }
  };
  const remember = async (k: string, fetchBytes: () => Promise<Uint8Array>): Promise<Uint8Array> => {
    const c = await cache();
    const hit = await c.match(k);
    if (hit) return new Uint8Array(await hit.arrayBuffer());
    const bytes = await fetchBytes();
    await put(c, k, bytes);
    return bytes;
  };
  const size = async (file: string): Promise<number | null> => {
    const c = await cache();
    const hit = await c.match(key(file, 'size'));
    if (hit) {
      const text = await hit.text();
      return text === 'absent' ? null : Number(text);
    }
    const n = await inner.size(file);
    await put(c, key(file, 'size'), n === null ? 'absent' : String(n));
    return n;
  };
  const src: ModelSource = {
    name: inner.name,
    describe: (file) => inner.describe(file),
    size,
    read: (file) => remember(key(file, 'whole'), () => inner.read(file)),
    async open(file) {
      const n = await size(file);
      if (n === null) throw noSuchFile(src, file);
      let reader: Promise<RangeReader> | null = null; // opened on the first miss only: a reload sends no request
      return {
        name: inner.describe(file),
        size: n,
        read: (offset, length) => remember(key(file, `${offset}-${offset + length}`), async () => (await (reader ??= inner.open(file))).read(offset, length)),
        close: async () => {
          if (reader) await (await reader).close();
        },
      };
    },
  };
  return src;
}

// A URL scheme of two or more letters (one letter is a Windows drive: C:\models).
const SCHEME = /^[a-z][a-z\d+.-]+:/i;

/** The ModelSource of what the user passed: a path (Node), a URL, files, or a ModelSource as is. */
export function modelSource(input: ModelSourceLike, options: ModelSourceOptions = {}): ModelSource {
  const { cache } = options;
  if (cache !== undefined && typeof cache !== 'boolean' && (typeof cache !== 'string' || cache === '')) {
    throw new TypeError(`fromPretrained: cache must be true, false or a Cache API storage name, got ${JSON.stringify(cache)}`);
  }
  const fromUrl = (u: URL) => (cache ? cachedSource(urlSource(u), cache === true ? DEFAULT_CACHE_NAME : cache) : urlSource(u));
  if (typeof input === 'string' || input instanceof URL) {
    const s = String(input);
    if (SCHEME.test(s)) {
      const u = new URL(s);
      if (u.protocol === 'file:' && hasFileSystem) return pathSource(decodeURIComponent(u.pathname));
      if (u.protocol === 'http:' || u.protocol === 'https:') return fromUrl(u);
      if (u.protocol === 'blob:') return urlSource(u);
      throw new Error(`fromPretrained: unsupported URL scheme ${u.protocol} in ${s}; use http(s), a path (Node) or the files`);
    }
    if (hasFileSystem) return pathSource(s);
    const page = (globalThis as { location?: { href: string } }).location?.href;
    if (!page) throw new Error(`fromPretrained: '${s}' is a relative URL, and there is no page to resolve it against; pass an absolute URL`);
    return fromUrl(new URL(s, page));
  }
  if (input instanceof Map) return filesSource(input);
  if (input && typeof input === 'object') {
    if (isModelSource(input)) return input;
    if (isFileList(input)) return filesSource(input);
  }
  throw new TypeError('fromPretrained: expected a folder path (Node), a URL, a Map of file name -> Blob | ArrayBuffer | Uint8Array, a FileList, or a ModelSource');
}

/** The same source, reporting bytes read to `onProgress`. */
export function withProgress(source: ModelSource, onProgress: ProgressCallback | undefined): ModelSource {
  if (!onProgress) return source;
  const files = new Map<string, { loaded: number; total: number }>();
  let loaded = 0;
  let total = 0;
  const start = (file: string, size: number) => {
    const f = { loaded: 0, total: size };
    files.set(file, f);
    total += size;
    return f;
  };
  const add = (file: string, f: { loaded: number; total: number }, n: number) => {
    f.loaded += n;
    loaded += n;
    onProgress({ file, fileLoaded: f.loaded, fileTotal: f.total, loaded, total });
  };
  return {
    name: source.name,
    describe: (file) => source.describe(file),
    size: (file) => source.size(file),
    async read(file) {
      const bytes = await source.read(file);
      add(file, start(file, bytes.byteLength), bytes.byteLength);
      return bytes;
    },
    async open(file) {
      const r = await source.open(file);
      const f = start(file, r.size);
      const reader: RangeReader = {
        name: r.name,
        size: r.size,
        async read(offset, length) {
          const bytes = await r.read(offset, length);
          add(file, f, bytes.byteLength);
          return bytes;
        },
        close: () => r.close(),
      };
      if (r.readInto) {
        const readInto = r.readInto.bind(r);
        reader.readInto = async (offset, target) => {
          await readInto(offset, target);
          add(file, f, target.byteLength);
        };
      }
      return reader;
    },
  };
}

/** A file as UTF-8 text. */
export async function readText(source: ModelSource, file: string): Promise<string> {
  return new TextDecoder().decode(await source.read(file));
}

/** A JSON object file, naming the file in every error; null when `optional` and the file is absent. */
export async function readJsonFile(source: ModelSource, file: string, optional: true): Promise<Record<string, unknown> | null>;
export async function readJsonFile(source: ModelSource, file: string, optional?: false): Promise<Record<string, unknown>>;
export async function readJsonFile(source: ModelSource, file: string, optional = false): Promise<Record<string, unknown> | null> {
  if (optional && (await source.size(file)) === null) return null;
  const text = await readText(source, file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source.describe(file)} is not valid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${source.describe(file)} must hold a JSON object`);
  return value as Record<string, unknown>;
}
