/**
 * The store's sweeper. Runs in worker processes, one at a time across all of them (a Redis
 * lock), every GC_INTERVAL_SECONDS; each run is bounded by GC_BATCH and resumes where the last
 * one stopped. It
 * - removes expired adapters (index first, then files; pinned and leased ones are passed by);
 * - removes adapter directories no index entry and no computation points to, once older than
 *   the grace period (crash leftovers, refused writes), hidden temp files likewise, and
 *   interrupted deletions in DATA_DIR/tmp;
 * - repairs the index: entries whose files are gone are removed (the same request regenerates
 *   them), entries from before the lifecycle are brought into its accounting;
 * - trims the job status indexes by age.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ADAPTER_ID_PATTERN, TENANT_PATTERN } from '../store/adapter-layout.js';
import { REMOVAL_MARKER_MS, CLAIM_ORPHANS } from '../store/adapter-scripts.js';
import type { AdapterRecord } from '../store/adapter-index.js';
import type { AdapterStore } from '../store/adapter-store.js';
import { JOB_STATUSES } from '../store/job-view.js';
import { LuaScript } from '../store/lua-runner.js';
import type { RedisKeys } from '../store/redis-keys.js';
import { RedisLock } from './redis-lock.js';

const claimOrphans = new LuaScript(CLAIM_ORPHANS);
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

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
    await this.scanDirectories(report);
    await this.walkIndex(tenants, report);
    report.trash = await this.emptyTrash();
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

  /** The next `batch` adapter directories on disk, in (tenant, id) order from the cursor. */
  private async nextDirectories(): Promise<{ tenant: string; id: string }[]> {
    const root = path.join(this.o.store.layout.dataDir, 'tenants');
    const cursor = (await this.o.redis.hget(this.o.keys.gcCursor(), 'dir')) ?? '';
    const [ct = '', cid = ''] = cursor.split('/');
    const out: { tenant: string; id: string }[] = [];
    const tenants = (await fs.readdir(root).catch(() => [] as string[])).filter((t) => TENANT_PATTERN.test(t) && t >= ct).sort();
    for (const tenant of tenants) {
      const names = (await fs.readdir(this.o.store.layout.tenantDir(tenant)).catch(() => [] as string[])).filter((n) => ADAPTER_ID_PATTERN.test(n)).sort();
      for (const id of names) {
        if (tenant === ct && id <= cid) continue;
        out.push({ tenant, id });
        if (out.length === this.o.batch) break;
      }
      if (out.length === this.o.batch) break;
    }
    const last = out[out.length - 1];
    await this.o.redis.hset(this.o.keys.gcCursor(), 'dir', out.length === this.o.batch && last ? `${last.tenant}/${last.id}` : '');
    return out;
  }

  private async scanDirectories(report: SweepReport): Promise<void> {
    const dirs = await this.nextDirectories();
    if (dirs.length === 0) return;
    const pipeline = this.o.redis.pipeline();
    for (const d of dirs) pipeline.exists(this.o.keys.adapter(d.tenant, d.id));
    const indexed = ((await pipeline.exec()) ?? []).map(([, v]) => v === 1);
    const old = Date.now() - this.o.graceMs;
    const orphans = new Map<string, string[]>();
    for (let i = 0; i < dirs.length; i++) {
      const { tenant, id } = dirs[i]!;
      const dir = this.o.store.adapterDir(tenant, id);
      // Before the temp files go (removing one makes the directory look young).
      const st = indexed[i] ? undefined : await fs.stat(dir).catch(() => undefined);
      // Temp files of an interrupted write, in indexed and unindexed directories alike.
      for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
        if (!TEMP_FILE.test(name)) continue;
        const st = await fs.stat(path.join(dir, name)).catch(() => undefined);
        if (st && st.mtimeMs < old && (await fs.rm(path.join(dir, name), { force: true }).then(() => true, () => false))) report.tempFiles++;
      }
      if (st && st.mtimeMs < old) orphans.set(tenant, [...(orphans.get(tenant) ?? []), id]);
    }
    for (const [tenant, ids] of orphans) {
      // Claimed only when still unindexed and no computation is writing the same id.
      const claimed = (await claimOrphans.run(this.o.redis, [], [this.o.keys.tenantPrefix(tenant), REMOVAL_MARKER_MS, ...ids])) as string[];
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
        const st = await fs.stat(this.o.store.filePath(tenant, rec.id, f.name)).catch(() => undefined);
        if (!st || st.size !== f.bytes) {
          lost.push(rec.id);
          break;
        }
      }
    }
    report.backfilled += await this.o.store.index.backfill(tenant, backfill);
    report.lost += (await this.o.store.remove(tenant, lost, 'force', 'lost')).length;
  }

  /** Deletions interrupted between their rename into DATA_DIR/tmp and the rm. */
  private async emptyTrash(): Promise<number> {
    const tmp = this.o.store.layout.tmpDir();
    const old = Date.now() - this.o.graceMs;
    let n = 0;
    for (const name of (await fs.readdir(tmp).catch(() => [] as string[])).filter((x) => x.startsWith('deleted.')).slice(0, this.o.batch)) {
      const st = await fs.stat(path.join(tmp, name)).catch(() => undefined);
      if (!st || st.mtimeMs >= old) continue;
      await fs.rm(path.join(tmp, name), { recursive: true, force: true });
      n++;
    }
    return n;
  }

  private async trimJobIndexes(tenants: string[]): Promise<void> {
    const cutoff = Date.now() - this.o.jobRetentionSeconds * 1000;
    const pipeline = this.o.redis.pipeline();
    for (const t of tenants) for (const s of JOB_STATUSES) pipeline.zremrangebyscore(this.o.keys.jobsByStatus(t, s), '-inf', `(${cutoff}`);
    await pipeline.exec();
  }
}
