/**
 * The adapter store: the Redis index (adapter-index.ts) and the files under DATA_DIR (shared
 * storage when workers run on several machines), written by the inference threads'
 * AdapterFileWriter (per-file atomic rename, group commit). The index is written only after a
 * batch's files are durable, so an indexed adapter is whole; removal goes index first, then
 * files (see the removal protocol in adapter-scripts.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';
import { ADAPTER_ID_PATTERN, AdapterLayout } from './adapter-layout.js';
import { AdapterIndex, type AdapterEntry, type AdapterFile, type AdapterRecord, type RemovalReason } from './adapter-index.js';

export { ADAPTER_ID_PATTERN } from './adapter-layout.js';
export type { AdapterEntry, AdapterFile, AdapterRecord } from './adapter-index.js';

/** The public Adapter object: the record, its lifecycle, and where to fetch it. */
export interface AdapterView extends AdapterRecord {
  /** Bytes of all its files (what it counts against the tenant's quota). */
  bytes: number;
  pinned: boolean;
  last_used_at: string;
  /** null when pinned. */
  expires_at: string | null;
  urls: { self: string; archive: string; files: Record<string, string> };
}

export function adapterView(entry: AdapterEntry, ttlMs: number): AdapterView {
  const rec = entry.record;
  const self = `/v1/adapters/${rec.id}`;
  return {
    ...rec,
    bytes: entry.bytes,
    pinned: entry.pinned,
    last_used_at: new Date(entry.usedMs).toISOString(),
    expires_at: entry.pinned ? null : new Date(entry.usedMs + ttlMs).toISOString(),
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
  /** An unpinned adapter expires this long after its last use (default: 100 years). */
  ttlSeconds?: number;
  /** How long the reason of a removal is remembered (default: one day). */
  tombstoneSeconds?: number;
  /** Told of adapters once their files are gone (their deployments are unloaded). */
  onRemoved?: (tenant: string, ids: string[]) => Promise<void>;
}

export class AdapterStore {
  readonly index: AdapterIndex;
  readonly layout: AdapterLayout;
  private readonly verified = new Set<string>();
  private readonly onRemoved: AdapterStoreOptions['onRemoved'];

  constructor(options: AdapterStoreOptions) {
    this.layout = new AdapterLayout(options.dataDir);
    this.onRemoved = options.onRemoved;
    this.index = new AdapterIndex({
      redis: options.redis,
      keys: options.keys,
      ttlSeconds: options.ttlSeconds ?? 100 * 365 * 24 * 3600,
      tombstoneSeconds: options.tombstoneSeconds ?? 24 * 3600,
    });
  }

  /** The directory of one adapter. Ids and tenants are validated, so no path can walk out. */
  adapterDir(tenant: string, adapterId: string): string {
    return this.layout.adapterDir(tenant, adapterId);
  }

  /**
   * Removes adapters (index entry, then files). `expire` removes only those still expired and
   * unleased; `force` removes whatever is there. Returns the ids removed.
   */
  async remove(tenant: string, ids: string[], mode: 'expire' | 'force', reason: RemovalReason): Promise<string[]> {
    const removed = await this.index.remove(tenant, ids, mode, reason);
    await this.removeFiles(tenant, removed);
    return removed;
  }

  /**
   * Deletes the files of adapters whose index entries are gone and whose removal markers this
   * caller holds, then clears the markers (a regeneration of the same id waits for that).
   */
  async removeFiles(tenant: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await Promise.all(ids.filter((id) => ADAPTER_ID_PATTERN.test(id)).map((id) => this.removeDir(tenant, id)));
    await this.index.clearMarkers(tenant, ids);
    await this.onRemoved?.(tenant, ids);
  }

  /** Renames into tmp first, so nobody ever sees a half-deleted adapter directory. */
  private async removeDir(tenant: string, id: string): Promise<void> {
    const trash = path.join(this.layout.tmpDir(), `deleted.${id}.${randomBytes(6).toString('hex')}`);
    await fs.mkdir(path.dirname(trash), { recursive: true });
    await fs.rename(this.adapterDir(tenant, id), trash).then(
      () => fs.rm(trash, { recursive: true, force: true }),
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      },
    );
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
