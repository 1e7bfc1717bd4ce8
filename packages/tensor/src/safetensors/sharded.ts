// Sharded checkpoints: `model.safetensors.index.json` = {"metadata": {...}, "weight_map": {"<tensor>": "<shard file>"}}.
// The index is validated up front (JSON object, weight_map of string -> plain file name, no tensor listed twice,
// every shard file present); shards are opened lazily on first use, and each is checked to hold the tensors the
// index assigns to it. The files come from a folder (Node) or from any ShardedFiles (a URL, files picked in a page).
import type { Tensor } from '../tensor.js';
import { SafetensorsError } from './errors.js';
import type { TensorInfo } from './header.js';
import { JsonError, isJsonObject, jsonTypeName, parseJson, type JsonValue } from './json.js';
import { nodeFs, nodePath } from '#fs';
import { openSafetensors, type LoadOptions, type SafetensorsFile } from './reader.js';
import type { ByteSource } from './sources.js';

export const SHARDED_INDEX_NAME = 'model.safetensors.index.json';

/** A sharded checkpoint opened lazily. */
export interface ShardedSafetensors {
  /** The index file's path. */
  readonly indexPath: string;
  /** Tensor names in weight_map order. */
  readonly names: readonly string[];
  /** Shard file names (as in weight_map), in order of first appearance. */
  readonly shards: readonly string[];
  /** The index's "metadata" object (e.g. total_size), as plain JSON values; {} when absent. */
  readonly metadata: Readonly<Record<string, unknown>>;
  has(name: string): boolean;
  /** The shard file name that holds a tensor. */
  shardOf(name: string): string;
  /** Header info of a tensor (opens its shard if needed). */
  info(name: string): Promise<TensorInfo>;
  get(name: string, opts?: LoadOptions): Promise<Tensor>;
  close(): Promise<void>;
}

/** Where a sharded checkpoint's files come from, when they are not a folder on disk. */
export interface ShardedFiles {
  /** The index's name in errors (a path or URL). */
  readonly indexName: string;
  /** The folder's name in errors. */
  readonly dirName: string;
  /** The index file's bytes. */
  readIndex(): Promise<Uint8Array>;
  /** Whether the shard file exists. */
  hasShard(file: string): Promise<boolean>;
  /** A shard, as a path or a byte source. */
  openShard(file: string): Promise<string | ByteSource>;
}

/** A folder on disk as ShardedFiles (Node). */
async function folderFiles(dirOrIndexPath: string): Promise<ShardedFiles> {
  const fs = await nodeFs();
  const { dirname, join } = await nodePath();
  const indexPath = await resolveIndex(dirOrIndexPath);
  const dir = dirname(indexPath);
  return {
    indexName: indexPath,
    dirName: dir,
    async readIndex() {
      if (!(await fs.stat(indexPath)).isFile()) throw new SafetensorsError(indexPath, null, 'io', 'index is not a regular file');
      return fs.readFile(indexPath);
    },
    async hasShard(file) {
      try {
        return (await fs.stat(join(dir, file))).isFile();
      } catch {
        return false;
      }
    },
    openShard: async (file) => join(dir, file),
  };
}

function toPlain(v: JsonValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, toPlain(x)]));
  if (Array.isArray(v)) return v.map(toPlain);
  return v.value;
}

/** Accepts a checkpoint folder or the index file itself. */
async function resolveIndex(pathOrDir: string): Promise<string> {
  const fs = await nodeFs();
  const { join } = await nodePath();
  if (pathOrDir.endsWith('.json')) return pathOrDir;
  try {
    if ((await fs.stat(pathOrDir)).isDirectory()) return join(pathOrDir, SHARDED_INDEX_NAME);
  } catch {
    // fall through: reported when the index is read
  }
  return pathOrDir;
}

class ShardedImpl implements ShardedSafetensors {
  private readonly open = new Map<string, Promise<SafetensorsFile>>();
  private closed = false;
  readonly shards: readonly string[];
  readonly names: readonly string[];
  constructor(
    readonly indexPath: string,
    private readonly files: ShardedFiles,
    private readonly weightMap: Map<string, string>,
    readonly metadata: Readonly<Record<string, unknown>>,
  ) {
    this.shards = Object.freeze([...new Set(weightMap.values())]);
    this.names = Object.freeze([...weightMap.keys()]);
  }
  has(name: string): boolean {
    return this.weightMap.has(name);
  }
  shardOf(name: string): string {
    const s = this.weightMap.get(name);
    if (s === undefined) throw new SafetensorsError(this.indexPath, name, 'unknown-tensor', 'not listed in weight_map');
    return s;
  }
  private async shard(shard: string): Promise<SafetensorsFile> {
    if (this.closed) throw new SafetensorsError(this.indexPath, null, 'closed', 'use after close()');
    let p = this.open.get(shard);
    if (!p) {
      p = (async () => {
        const f = await openSafetensors(await this.files.openShard(shard));
        for (const [name, s] of this.weightMap) {
          if (s === shard && !f.has(name)) {
            await f.close();
            throw new SafetensorsError(f.file, name, 'missing-tensor', `weight_map in ${this.indexPath} assigns this tensor to the shard, but the shard does not contain it`);
          }
        }
        return f;
      })();
      this.open.set(shard, p);
      p.catch(() => this.open.delete(shard));
    }
    return p;
  }
  async info(name: string): Promise<TensorInfo> {
    return (await this.shard(this.shardOf(name))).info(name);
  }
  async get(name: string, opts?: LoadOptions): Promise<Tensor> {
    return (await this.shard(this.shardOf(name))).get(name, opts);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((p) => p.then((f) => f.close(), () => undefined)));
  }
}

/** Opens a sharded checkpoint from its folder or its `model.safetensors.index.json` (Node), or from ShardedFiles. */
export async function openShardedSafetensors(dirOrIndexPath: string | ShardedFiles): Promise<ShardedSafetensors> {
  const files = typeof dirOrIndexPath === 'string' ? await folderFiles(dirOrIndexPath) : dirOrIndexPath;
  const indexPath = files.indexName;
  const err = (tensor: string | null, rule: 'invalid-index' | 'missing-shard' | 'duplicate-key' | 'io', detail: string): never => {
    throw new SafetensorsError(indexPath, tensor, rule, detail);
  };
  let text: string;
  try {
    const bytes = await files.readIndex();
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    return err(null, 'io', `cannot read the index: ${e instanceof Error ? e.message : String(e)}`);
  }
  let root: JsonValue;
  try {
    root = parseJson(text);
  } catch (e) {
    if (e instanceof JsonError && e.duplicate) {
      if (e.duplicate.path.length === 1 && e.duplicate.path[0] === 'weight_map') return err(e.duplicate.key, 'duplicate-key', 'tensor is listed twice in weight_map');
      return err(null, 'duplicate-key', `key ${JSON.stringify(e.duplicate.key)} appears twice in ${e.duplicate.path.length ? e.duplicate.path.join('.') : 'the top-level object'}`);
    }
    return err(null, 'invalid-index', `index is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isJsonObject(root)) return err(null, 'invalid-index', `index must be a JSON object, got ${jsonTypeName(root)}`);
  const wm = root.get('weight_map');
  if (wm === undefined) return err(null, 'invalid-index', 'index has no "weight_map"');
  if (!isJsonObject(wm)) return err(null, 'invalid-index', `"weight_map" must be an object of tensor name -> shard file, got ${jsonTypeName(wm)}`);
  const md = root.get('metadata');
  if (md !== undefined && md !== null && !isJsonObject(md)) return err(null, 'invalid-index', `"metadata" must be an object, got ${jsonTypeName(md)}`);

  const weightMap = new Map<string, string>();
  for (const [name, file] of wm) {
    if (typeof file !== 'string') return err(name, 'invalid-index', `weight_map value must be a shard file name, got ${jsonTypeName(file)}`);
    if (file === '' || /^([\\/]|[A-Za-z]:)/.test(file) || file.split(/[\\/]/).some((seg) => seg === '..' || seg === '')) {
      return err(name, 'invalid-index', `shard file name ${JSON.stringify(file)} must be a relative path inside the checkpoint folder`);
    }
    weightMap.set(name, file);
  }
  for (const shard of new Set(weightMap.values())) {
    if (!(await files.hasShard(shard))) {
      const first = [...weightMap].find(([, s]) => s === shard)![0];
      err(first, 'missing-shard', `shard file ${JSON.stringify(shard)} named in weight_map does not exist in ${files.dirName}`);
    }
  }
  return new ShardedImpl(indexPath, files, weightMap, Object.freeze((md ? toPlain(md) : {}) as Record<string, unknown>));
}

/**
 * Loads every tensor listed in a sharded checkpoint's weight_map (folder or index path), shard by shard;
 * the Map is in weight_map order. Tensors a shard holds but weight_map does not list are not loaded.
 */
export async function loadShardedSafetensors(indexJsonPath: string, opts: LoadOptions = {}): Promise<Map<string, Tensor>> {
  const sh = await openShardedSafetensors(indexJsonPath);
  try {
    const loaded = new Map<string, Tensor>();
    for (const shard of sh.shards) {
      for (const name of sh.names) if (sh.shardOf(name) === shard) loaded.set(name, await sh.get(name, opts));
    }
    return new Map(sh.names.map((n) => [n, loaded.get(n)!]));
  } finally {
    await sh.close();
  }
}
