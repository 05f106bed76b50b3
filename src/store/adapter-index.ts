/**
 * The adapter index in Redis: one entry per stored adapter, with its lifecycle (last use,
 * expiry, pin, download leases) and the tenant's usage counters, all moved by the scripts in
 * adapter-scripts.ts. An entry exists only for an adapter whose files are whole and durable.
 */
import type { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.js';
import { LuaScript } from './lua-runner.js';
import { BACKFILL_ADAPTERS, LEASE_ADAPTER, LOOKUP_ADAPTER, PIN_ADAPTER, REMOVAL_MARKER_MS, REMOVE_ADAPTERS } from './adapter-scripts.js';
import { RedisKeys } from './redis-keys.js';
import { pageNewestFirst } from './cursor.js';
import { ADAPTER_ID_PATTERN } from '../blobs/adapter-layout.js';

const lookupAdapter = new LuaScript(LOOKUP_ADAPTER);
const leaseAdapter = new LuaScript(LEASE_ADAPTER);
const pinAdapter = new LuaScript(PIN_ADAPTER);
const removeAdapters = new LuaScript(REMOVE_ADAPTERS);
const backfillAdapters = new LuaScript(BACKFILL_ADAPTERS);

export interface AdapterFile {
  name: string;
  bytes: number;
  sha256: string;
}

/** What the worker stores as `record` (the served part of an adapter that never changes). */
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
  /** Chunked models: the adapter this one extends. */
  extends?: string;
  /** Chunked models: tokens of context read, through every ancestor. */
  context_tokens?: number;
}

/** An index entry: the record and its lifecycle. */
export interface AdapterEntry {
  record: AdapterRecord;
  usedMs: number;
  pinned: boolean;
  bytes: number;
}

/** Why a removed adapter is gone (kept as a tombstone for JOB_RETENTION_SECONDS). */
export type RemovalReason = 'expired' | 'evicted' | 'lost' | 'damaged' | 'deleted';

export type Lookup = { state: 'ok'; entry: AdapterEntry } | { state: 'expired' } | { state: 'gone'; reason: RemovalReason } | { state: 'missing' };

export interface AdapterUsage {
  bytes: number;
  pinnedBytes: number;
  count: number;
}

export interface AdapterIndexOptions {
  redis: Redis;
  keys: RedisKeys;
  /** An unpinned adapter expires this long after its last use. */
  ttlSeconds: number;
  /** How long the reason of a removal is remembered. */
  tombstoneSeconds: number;
}

function toLookup(reply: string[]): Lookup {
  if (reply[0] === 'ok') {
    const record = JSON.parse(reply[1]!) as AdapterRecord;
    const bytes = reply[5] ? Number(reply[5]) : record.files.reduce((n, f) => n + f.bytes, 0);
    return { state: 'ok', entry: { record, usedMs: Number(reply[3]), pinned: reply[4] === '1', bytes } };
  }
  if (reply[0] === 'expired') return { state: 'expired' };
  if (reply[0] === 'gone') return { state: 'gone', reason: reply[1]!.split(' ')[0] as RemovalReason };
  return { state: 'missing' };
}

/**
 * The answer for an adapter that is not there: 404 for an id never stored (or deleted by its
 * owner), 410 for one the lifecycle removed, saying that the same request regenerates it.
 */
export function adapterUnavailable(id: string, lookup: Exclude<Lookup, { state: 'ok' }>): AppError {
  const shown = id.slice(0, 64);
  const again = 'posting the same request regenerates it under the same id';
  if (lookup.state === 'missing') return new AppError('not_found', `No adapter with id ${shown}.`);
  const reason = lookup.state === 'expired' ? 'expired' : lookup.reason;
  const why: Record<RemovalReason, string> = {
    expired: 'expired (it was not used within the adapter TTL)',
    evicted: "was evicted to keep the tenant's adapters within its storage quota",
    lost: 'was removed because its files were missing from the store',
    damaged: 'was removed because its files failed their integrity check',
    deleted: 'was deleted',
  };
  return new AppError('gone', `Adapter ${shown} ${why[reason]}; ${again}.`);
}

export class AdapterIndex {
  private readonly redis: Redis;
  readonly keys: RedisKeys;
  readonly ttlMs: number;
  private readonly tombstoneSeconds: number;

  constructor(options: AdapterIndexOptions) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.ttlMs = options.ttlSeconds * 1000;
    this.tombstoneSeconds = options.tombstoneSeconds;
  }

  /**
   * Looks an adapter up. `touch` makes it a use (expiry and LRU order move); `leaseMs` also
   * holds it against eviction and expiry until released (downloads).
   */
  async lookup(tenant: string, id: string, opts: { touch?: boolean; leaseMs?: number } = {}): Promise<Lookup> {
    if (!ADAPTER_ID_PATTERN.test(id)) return { state: 'missing' };
    const reply = (await lookupAdapter.run(this.redis, [], [this.keys.tenantPrefix(tenant), id, Date.now(), this.ttlMs, opts.touch ? '1' : '0', opts.leaseMs ?? 0])) as string[];
    return toLookup(reply);
  }

  /** Renews a download lease for leaseMs from now, or (leaseMs = 0) releases one. */
  async lease(tenant: string, id: string, leaseMs: number): Promise<void> {
    await leaseAdapter.run(this.redis, [], [this.keys.tenantPrefix(tenant), id, Date.now(), leaseMs]);
  }

  async pin(tenant: string, id: string, pinned: boolean): Promise<Lookup> {
    if (!ADAPTER_ID_PATTERN.test(id)) return { state: 'missing' };
    return toLookup((await pinAdapter.run(this.redis, [], [this.keys.tenantPrefix(tenant), id, Date.now(), this.ttlMs, pinned ? '1' : '0'])) as string[]);
  }

  async usage(tenant: string): Promise<AdapterUsage> {
    const [bytes, pinned, count] = await this.redis.hmget(this.keys.usage(tenant), 'bytes', 'pinned_bytes', 'count');
    return { bytes: Number(bytes ?? 0), pinnedBytes: Number(pinned ?? 0), count: Number(count ?? 0) };
  }

  /** Every tenant's usage (for /metrics). */
  async allUsage(): Promise<(AdapterUsage & { tenant: string })[]> {
    const tenants = (await this.redis.smembers(this.keys.tenants())).slice(0, 10000);
    const pipeline = this.redis.pipeline();
    for (const t of tenants) pipeline.hmget(this.keys.usage(t), 'bytes', 'pinned_bytes', 'count');
    const replies = ((await pipeline.exec()) ?? []).map(([, v]) => v as (string | null)[]);
    return tenants.map((tenant, i) => ({ tenant, bytes: Number(replies[i]?.[0] ?? 0), pinnedBytes: Number(replies[i]?.[1] ?? 0), count: Number(replies[i]?.[2] ?? 0) }));
  }

  /**
   * Removes index entries: `expire` only those expired, unleased and not being regenerated;
   * `force` whatever is there. Each removed id gets a removal marker: its files are the
   * caller's to delete, then `clearMarkers`.
   */
  async remove(tenant: string, ids: string[], mode: 'expire' | 'force', reason: RemovalReason): Promise<string[]> {
    const valid = ids.filter((id) => ADAPTER_ID_PATTERN.test(id));
    if (valid.length === 0) return [];
    const args = [this.keys.tenantPrefix(tenant), mode, reason, Date.now(), this.ttlMs, this.tombstoneSeconds, REMOVAL_MARKER_MS, ...valid];
    return (await removeAdapters.run(this.redis, [], args)) as string[];
  }

  async clearMarkers(tenant: string, ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.del(...ids.map((id) => this.keys.removing(tenant, id)));
  }

  /** Entries written before the lifecycle existed get its fields and accounting. */
  async backfill(tenant: string, entries: { id: string; bytes: number; model: string }[]): Promise<number> {
    if (entries.length === 0) return 0;
    const args: (string | number)[] = [this.keys.tenantPrefix(tenant), this.keys.tenants(), tenant];
    for (const e of entries) args.push(e.id, e.bytes, e.model);
    return (await backfillAdapters.run(this.redis, [], args)) as number;
  }

  /** Newest first; expired entries are not listed. A model filter walks that model's index. */
  async list(tenant: string, opts: { limit: number; cursor?: string; model?: string }): Promise<{ data: AdapterEntry[]; nextCursor: string | null }> {
    const key = opts.model ? this.keys.adaptersByModel(tenant, opts.model) : this.keys.adapters(tenant);
    const now = Date.now();
    return pageNewestFirst(this.redis, key, opts, async (ids) => {
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hmget(this.keys.adapter(tenant, id), 'record', 'created_ms', 'used_ms', 'pinned', 'bytes');
      const replies = ((await pipeline.exec()) ?? []).map(([, v]) => v as (string | null)[]);
      const items = replies.map(([text, created, used, pinned, bytes]) => {
        const usedMs = Number(used ?? created ?? 0);
        if (!text || (pinned !== '1' && usedMs + this.ttlMs <= now)) return undefined;
        const lookup = toLookup(['ok', text, created ?? '', String(usedMs), pinned ?? '0', bytes ?? '']);
        return lookup.state === 'ok' && (!opts.model || lookup.entry.record.model === opts.model) ? lookup.entry : undefined;
      });
      return { items };
    });
  }
}
