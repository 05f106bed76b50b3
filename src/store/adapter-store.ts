/**
 * The adapter store's index and readers. Blobs live on the filesystem under DATA_DIR (shared
 * storage when workers run on several machines), written by the inference threads'
 * AdapterFileWriter (per-file atomic rename, group commit); Redis holds the index (the adapter
 * record), written only after a batch's files are durable, so an indexed adapter is whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { LuaScript } from './lua-runner.js';
import { DELETE_ADAPTER } from './lua-scripts.js';
import { RedisKeys } from './redis-keys.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { ADAPTER_ID_PATTERN, AdapterLayout } from './adapter-layout.js';

export { ADAPTER_ID_PATTERN } from './adapter-layout.js';

const deleteAdapter = new LuaScript(DELETE_ADAPTER);

export interface AdapterFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface AdapterRecord {
  id: string;
  object: 'adapter';
  model: string;
  model_sha256: string;
  format: string;
  base_model: string;
  r: number;
  lora_alpha: number;
  use_rslora: boolean;
  target_modules: string[];
  dtype: string;
  files: AdapterFile[];
  created_at: string;
  /** Set when `r` is not a rank vLLM accepts. */
  warnings?: string[];
}

export interface AdapterView extends AdapterRecord {
  urls: { self: string; archive: string; files: Record<string, string> };
}

export function adapterView(rec: AdapterRecord): AdapterView {
  const self = `/v1/adapters/${rec.id}`;
  return {
    ...rec,
    urls: {
      self,
      archive: `${self}/archive`,
      files: Object.fromEntries(rec.files.map((f) => [f.name, `${self}/files/${encodeURIComponent(f.name)}`])),
    },
  };
}

export interface AdapterStoreOptions {
  redis: Redis;
  keys: RedisKeys;
  dataDir: string;
}

export class AdapterStore {
  private readonly redis: Redis;
  private readonly keys: RedisKeys;
  readonly layout: AdapterLayout;
  private readonly verified = new Set<string>();

  constructor(options: AdapterStoreOptions) {
    this.layout = new AdapterLayout(options.dataDir);
    this.redis = options.redis;
    this.keys = options.keys;
  }

  /** The directory of one adapter. Ids and tenants are validated, so no path can walk out. */
  adapterDir(tenant: string, adapterId: string): string {
    return this.layout.adapterDir(tenant, adapterId);
  }

  async get(tenant: string, adapterId: string): Promise<AdapterRecord | undefined> {
    if (!ADAPTER_ID_PATTERN.test(adapterId)) return undefined;
    const text = await this.redis.hget(this.keys.adapter(tenant, adapterId), 'record');
    return text ? (JSON.parse(text) as AdapterRecord) : undefined;
  }

  async list(tenant: string, opts: { limit: number; cursor?: string; model?: string }): Promise<{ data: AdapterRecord[]; nextCursor: string | null }> {
    const key = this.keys.adapters(tenant);
    let max = '+inf';
    let after: string | undefined;
    if (opts.cursor) {
      const c = decodeCursor(opts.cursor);
      max = String(c.score);
      after = c.id;
    }
    const data: AdapterRecord[] = [];
    let offset = 0;
    let last: { score: number; id: string } | undefined;
    for (;;) {
      const rows = await this.redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', offset, 100);
      if (rows.length === 0) return { data, nextCursor: null };
      offset += rows.length / 2;
      const ids: { id: string; score: number }[] = [];
      for (let i = 0; i < rows.length; i += 2) ids.push({ id: rows[i]!, score: Number(rows[i + 1]) });
      const pipeline = this.redis.pipeline();
      for (const e of ids) pipeline.hget(this.keys.adapter(tenant, e.id), 'record');
      const texts = ((await pipeline.exec()) ?? []).map(([, v]) => v as string | null);
      for (let i = 0; i < ids.length; i++) {
        const e = ids[i]!;
        if (after !== undefined && e.score === Number(max) && e.id >= after) continue;
        const text = texts[i];
        if (!text) continue;
        const rec = JSON.parse(text) as AdapterRecord;
        if (opts.model && rec.model !== opts.model) continue;
        if (data.length === opts.limit) return { data, nextCursor: last ? encodeCursor(last.score, last.id) : null };
        data.push(rec);
        last = { score: e.score, id: e.id };
      }
    }
  }

  /** Removes the index entry, then the files. Returns false when there was no such adapter. */
  async delete(tenant: string, adapterId: string): Promise<boolean> {
    if (!ADAPTER_ID_PATTERN.test(adapterId)) return false;
    const removed = await deleteAdapter.run(this.redis, [this.keys.adapter(tenant, adapterId), this.keys.adapters(tenant)], [adapterId]);
    if (!removed) return false;
    const dir = this.adapterDir(tenant, adapterId);
    // Rename first so a concurrent re-generation never sees a half-deleted directory.
    const trash = path.join(this.layout.tmpDir(), `deleted.${adapterId}.${randomBytes(6).toString('hex')}`);
    await fs.mkdir(path.dirname(trash), { recursive: true });
    await fs.rename(dir, trash).then(
      () => fs.rm(trash, { recursive: true, force: true }),
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      },
    );
    return true;
  }

  /**
   * True when the file on disk has exactly the size and sha256 its record lists. Results are
   * remembered per (path, size, mtime), so a file is hashed once, not on every download.
   */
  async verifyFile(tenant: string, adapterId: string, file: AdapterFile): Promise<boolean> {
    const p = this.filePath(tenant, adapterId, file.name);
    let st;
    try {
      st = await fs.stat(p);
    } catch {
      return false;
    }
    const key = `${p}:${st.size}:${st.mtimeMs}`;
    if (this.verified.has(key)) return true;
    if (st.size !== file.bytes) return false;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(p)) hash.update(chunk as Buffer);
    if (hash.digest('hex') !== file.sha256) return false;
    if (this.verified.size >= 10000) this.verified.delete(this.verified.keys().next().value!);
    this.verified.add(key);
    return true;
  }

  /** Absolute path of one of an adapter's files (the name must be in its record). */
  filePath(tenant: string, adapterId: string, name: string): string {
    return this.layout.file(tenant, adapterId, name);
  }
}
