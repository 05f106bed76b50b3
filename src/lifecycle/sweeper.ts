/**
 * The store's sweeper. Runs in worker processes, one at a time across all of them (a Redis
 * lock), every GC_INTERVAL_SECONDS; each run is bounded by GC_BATCH and resumes where the last
 * one stopped. It
 * - removes expired adapters (index first, then files; pinned and leased ones are passed by);
 * - removes stored adapters (directories, or object prefixes) no index entry and no computation
 *   points to, once older than the grace period (crash leftovers, refused writes), and what
 *   interrupted writes left (temp files and trash; incomplete multipart uploads in S3);
 * - repairs the index: entries whose files are gone are removed (the same request regenerates
 *   them), entries from before the lifecycle are brought into its accounting;
 * - trims the job status indexes by age.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { TENANT_PATTERN } from '../blobs/adapter-layout.js';
import { REMOVAL_MARKER_MS, CLAIM_ORPHANS } from '../store/adapter-scripts.js';
import type { AdapterRecord } from '../store/adapter-index.js';
import type { AdapterStore } from '../store/adapter-store.js';
import { JOB_STATUSES } from '../store/job-view.js';
import { LuaScript } from '../store/lua-runner.js';
import type { RedisKeys } from '../store/redis-keys.js';
import { RedisLock } from './redis-lock.js';

const claimOrphans = new LuaScript(CLAIM_ORPHANS);

export interface SweeperOptions {
  redis: Redis;
  keys: RedisKeys;
  store: AdapterStore;
  /** Unindexed files and directories younger than this are left alone (a write may be under way). */
  graceMs: number;
  /** Most adapters expired, and most directories and index entries inspected, per run. */
  batch: number;
  jobRetentionSeconds: number;
  log: Logger;
  metrics?: Metrics;
}

export interface SweepReport {
  expired: number;
  orphanDirs: number;
  tempFiles: number;
  trash: number;
  lost: number;
  backfilled: number;
}

export class Sweeper {
  private readonly lock: RedisLock;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private closed = false;

  constructor(private readonly o: SweeperOptions) {
    this.lock = new RedisLock({ redis: o.redis, key: o.keys.gcLock(), ttlMs: 30_000 });
  }

  /** Sweeps every `intervalMs` (first run after one interval) until close(). */
  start(intervalMs: number): void {
    const tick = () => {
      if (this.closed) return;
      this.running = this.runOnce()
        .catch((err: unknown) => this.o.log.warn({ err }, 'sweep failed'))
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, intervalMs).unref();
  }

  /** Idempotent; waits for a run in progress. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One bounded sweep; undefined when another process holds the lock. */
  async runOnce(): Promise<SweepReport | undefined> {
    try {
      const ran = await this.lock.run(() => this.sweep());
      this.o.metrics?.gcRuns.inc({ outcome: ran ? 'ran' : 'locked' });
      return ran?.value;
    } catch (err) {
      this.o.metrics?.gcRuns.inc({ outcome: 'failed' });
      throw err;
    }
  }

  private async sweep(): Promise<SweepReport> {
    const report: SweepReport = { expired: 0, orphanDirs: 0, tempFiles: 0, trash: 0, lost: 0, backfilled: 0 };
    const tenants = (await this.o.redis.smembers(this.o.keys.tenants())).filter((t) => TENANT_PATTERN.test(t)).sort();
    report.expired = await this.expire(tenants);
    await this.scanStored(report);
    await this.walkIndex(tenants, report);
    await this.trimJobIndexes(tenants);
    const m = this.o.metrics;
    if (m) {
      m.adaptersExpired.inc(report.expired);
      m.gcRemoved.inc({ kind: 'orphan_dir' }, report.orphanDirs);
      m.gcRemoved.inc({ kind: 'temp_file' }, report.tempFiles);
      m.gcRemoved.inc({ kind: 'trash' }, report.trash);
      m.gcRemoved.inc({ kind: 'lost' }, report.lost);
    }
    if (Object.values(report).some((n) => n > 0)) this.o.log.info(report, 'sweep');
    return report;
  }

  private async expire(tenants: string[]): Promise<number> {
    let left = this.o.batch;
    let removed = 0;
    const cutoff = Date.now() - this.o.store.index.ttlMs;
    for (const tenant of tenants) {
      if (left <= 0) break;
      const ids = await this.o.redis.zrangebyscore(this.o.keys.lru(tenant), '-inf', cutoff, 'LIMIT', 0, left);
      left -= ids.length;
      removed += (await this.o.store.remove(tenant, ids, 'expire', 'expired')).length;
    }
    return removed;
  }

  /** The next `batch` stored adapters (directories, or object prefixes), in (tenant, id) order from the cursor. */
  private async nextStored(): Promise<{ tenant: string; id: string; mtimeMs: number }[]> {
    const blobs = this.o.store.blobs;
    const cursor = (await this.o.redis.hget(this.o.keys.gcCursor(), 'dir')) ?? '';
    const [ct = '', cid = ''] = cursor.split('/');
    const out: { tenant: string; id: string; mtimeMs: number }[] = [];
    for (const tenant of (await blobs.tenants()).filter((t) => t >= ct)) {
      for (const a of await blobs.adapters(tenant)) {
        if (tenant === ct && a.id <= cid) continue;
        out.push({ tenant, ...a });
        if (out.length === this.o.batch) break;
      }
      if (out.length === this.o.batch) break;
    }
    const last = out[out.length - 1];
    await this.o.redis.hset(this.o.keys.gcCursor(), 'dir', out.length === this.o.batch && last ? `${last.tenant}/${last.id}` : '');
    return out;
  }

  private async scanStored(report: SweepReport): Promise<void> {
    const stored = await this.nextStored();
    const old = Date.now() - this.o.graceMs;
    const byTenant = new Map<string, { id: string; mtimeMs: number }[]>();
    for (const s of stored) byTenant.set(s.tenant, [...(byTenant.get(s.tenant) ?? []), s]);
    for (const [tenant, list] of byTenant) {
      // Temp files and interrupted deletions (multipart uploads in S3), in any adapter's place.
      const left = await this.o.store.blobs.removeLeftovers(tenant, list.map((a) => a.id), old);
      report.tempFiles += left.tempFiles;
      report.trash += left.trash;
      const pipeline = this.o.redis.pipeline();
      for (const a of list) pipeline.exists(this.o.keys.adapter(tenant, a.id));
      const indexed = ((await pipeline.exec()) ?? []).map(([, v]) => v === 1);
      const orphans = list.filter((a, i) => !indexed[i] && a.mtimeMs < old).map((a) => a.id);
      if (orphans.length === 0) continue;
      // Claimed only when still unindexed and no computation is writing the same id.
      const claimed = (await claimOrphans.run(this.o.redis, [], [this.o.keys.tenantPrefix(tenant), REMOVAL_MARKER_MS, ...orphans])) as string[];
      await this.o.store.removeFiles(tenant, claimed);
      report.orphanDirs += claimed.length;
    }
  }

  /** Index entries, `batch` at a time (ZSCAN: stable under concurrent changes), checked against the disk. */
  private async walkIndex(tenants: string[], report: SweepReport): Promise<void> {
    const cursor = (await this.o.redis.hget(this.o.keys.gcCursor(), 'index')) ?? '';
    const [ct = '', zc = '0'] = cursor.split(' ');
    let seen = 0;
    for (const tenant of tenants.filter((t) => t >= ct)) {
      let scan = tenant === ct ? zc : '0';
      do {
        const [next, flat] = await this.o.redis.zscan(this.o.keys.adapters(tenant), scan, 'COUNT', Math.min(this.o.batch, 500));
        scan = next;
        const ids = flat.filter((_, i) => i % 2 === 0);
        seen += ids.length;
        await this.checkEntries(tenant, ids, report);
        if (seen >= this.o.batch && scan !== '0') {
          await this.o.redis.hset(this.o.keys.gcCursor(), 'index', `${tenant} ${scan}`);
          return;
        }
      } while (scan !== '0');
    }
    await this.o.redis.hset(this.o.keys.gcCursor(), 'index', '');
  }

  private async checkEntries(tenant: string, ids: string[], report: SweepReport): Promise<void> {
    if (ids.length === 0) return;
    const pipeline = this.o.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.o.keys.adapter(tenant, id), 'record', 'bytes');
    const replies = ((await pipeline.exec()) ?? []).map(([, v]) => v as (string | null)[]);
    const lost: string[] = [];
    const backfill: { id: string; bytes: number; model: string }[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [text, bytes] = replies[i] ?? [];
      if (!text) continue;
      const rec = JSON.parse(text) as AdapterRecord;
      if (!bytes) backfill.push({ id: rec.id, bytes: rec.files.reduce((n, f) => n + f.bytes, 0), model: rec.model });
      for (const f of rec.files) {
        const size = await this.o.store.blobs.size(tenant, rec.id, f.name);
        if (size !== f.bytes) {
          lost.push(rec.id);
          break;
        }
      }
    }
    report.backfilled += await this.o.store.index.backfill(tenant, backfill);
    report.lost += (await this.o.store.remove(tenant, lost, 'force', 'lost')).length;
  }

  private async trimJobIndexes(tenants: string[]): Promise<void> {
    const cutoff = Date.now() - this.o.jobRetentionSeconds * 1000;
    const pipeline = this.o.redis.pipeline();
    for (const t of tenants) for (const s of JOB_STATUSES) pipeline.zremrangebyscore(this.o.keys.jobsByStatus(t, s), '-inf', `(${cutoff}`);
    await pipeline.exec();
  }
}
