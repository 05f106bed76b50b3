/**
 * The adapter store: the Redis index (adapter-index.ts) and the files (src/blobs: the filesystem
 * under DATA_DIR, or S3), written by the inference threads' writers. The index is written only
 * after a batch's files are durable, so an indexed adapter is whole; removal goes index first,
 * then files (see the removal protocol in adapter-scripts.ts).
 */
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';
import { ADAPTER_ID_PATTERN } from '../blobs/adapter-layout.js';
import type { AdapterBlobs } from '../blobs/adapter-blobs.js';
import { FsBlobs } from '../blobs/fs-blobs.js';
import { AdapterIndex, type AdapterEntry, type AdapterFile, type AdapterRecord, type RemovalReason } from './adapter-index.js';

export { ADAPTER_ID_PATTERN } from '../blobs/adapter-layout.js';
export type { AdapterEntry, AdapterFile, AdapterRecord } from './adapter-index.js';

/** The public Adapter object: the record, its lifecycle, and where to fetch it. */
export interface AdapterView extends Omit<AdapterRecord, 'extends' | 'context_tokens'> {
  extends: string | null;
  context_tokens: number | null;
  /** With the S3 store: `s3://bucket/prefix/tenant/id/`, what LoRAX loads (`adapter_source: "s3"`). */
  location?: string;
  /** Bytes of all its files (what it counts against the tenant's quota). */
  bytes: number;
  pinned: boolean;
  last_used_at: string;
  /** null when pinned. */
  expires_at: string | null;
  urls: { self: string; archive: string; files: Record<string, string> };
}

export function adapterView(entry: AdapterEntry, ttlMs: number, location?: string): AdapterView {
  const rec = entry.record;
  const self = `/v1/adapters/${rec.id}`;
  return {
    ...rec,
    extends: rec.extends ?? null,
    context_tokens: rec.context_tokens ?? null,
    ...(location ? { location } : {}),
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
  /** Where the files are (default: the filesystem under dataDir). */
  blobs?: AdapterBlobs;
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
  readonly blobs: AdapterBlobs;
  private readonly onRemoved: AdapterStoreOptions['onRemoved'];

  constructor(options: AdapterStoreOptions) {
    this.blobs = options.blobs ?? new FsBlobs(options.dataDir);
    this.onRemoved = options.onRemoved;
    this.index = new AdapterIndex({
      redis: options.redis,
      keys: options.keys,
      ttlSeconds: options.ttlSeconds ?? 100 * 365 * 24 * 3600,
      tombstoneSeconds: options.tombstoneSeconds ?? 24 * 3600,
    });
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
    await Promise.all(ids.filter((id) => ADAPTER_ID_PATTERN.test(id)).map((id) => this.blobs.remove(tenant, id)));
    await this.index.clearMarkers(tenant, ids);
    await this.onRemoved?.(tenant, ids);
  }

  /** True when the stored file has exactly the size and sha256 its record lists. */
  verifyFile(tenant: string, adapterId: string, file: AdapterFile): Promise<boolean> {
    return this.blobs.verify(tenant, adapterId, file);
  }
}
