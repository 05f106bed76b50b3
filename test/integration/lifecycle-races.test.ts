/**
 * The lifecycle's races, forced into their bad interleavings: a download against eviction, a
 * regeneration against the removal of the same id, concurrent writes, pins and deletes against
 * the quota's accounting, two sweepers at once; and the sweeper's repairs.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../src/logging/logger.js';
import { RedisLock } from '../../src/lifecycle/redis-lock.js';
import { Sweeper } from '../../src/lifecycle/sweeper.js';
import { AdapterStore } from '../../src/store/adapter-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { adapterBytes, adapterDir, make, isStored, storedIds, blobsOf, ON_S3, post, sleep, weightsSha } from '../helpers/lifecycle.js';

let S: number;
const services: TestService[] = [];
const start = async (env: Record<string, string> = {}) => {
  const svc = await startTestService({ env: { GC_INTERVAL_SECONDS: '0', ...env } });
  services.push(svc);
  return svc;
};
/** A store on the service's Redis and data dir, as another process would have. */
const storeOf = (svc: TestService) => new AdapterStore({ redis: svc.redis, keys: new RedisKeys(svc.config.queuePrefix), dataDir: svc.config.dataDir, ttlSeconds: svc.config.adapterTtlSeconds });
beforeAll(async () => {
  S = await adapterBytes();
});
afterAll(async () => {
  for (const s of services) await s.close();
});

describe('download vs eviction', () => {
  it('an adapter under a download lease is passed by; once released it is evicted in LRU order', async () => {
    const svc = await start({ TENANT_STORAGE_QUOTA_BYTES: String(2 * S + Math.floor(S / 2)) });
    const store = storeOf(svc);
    const a = await make(svc, 'lease A');
    const b = await make(svc, 'lease B');
    // The lease a download route takes (lookup with leaseMs), held as a slow download would.
    const leased = await store.index.lookup('local', a, { leaseMs: 30000 });
    expect(leased.state).toBe('ok');
    await make(svc, 'lease C'); // A is least recently used, but leased: B goes
    expect((await call(svc.url, 'GET', `/v1/adapters/${b}`)).status).toBe(410);
    expect(await weightsSha(svc, a)).toMatch(/^[0-9a-f]{64}$/);
    await store.index.lease('local', a, 0);
    await sleep(5);
    await make(svc, 'lease D'); // now C (created before A's download above) is LRU
    await make(svc, 'lease E'); // and then A
    expect((await call(svc.url, 'GET', `/v1/adapters/${a}`)).status).toBe(410);
    // Downloads release their leases when they end: nothing is left holding anything.
    const held = await svc.redis.keys(`${svc.config.queuePrefix}:t:local:adapter:*`);
    for (const k of held) expect(await svc.redis.hget(k, 'lease_n')).toBeNull();
  });

  it('with only leased and pinned adapters left, new work is refused rather than a download cut short', async () => {
    const svc = await start({ TENANT_STORAGE_QUOTA_BYTES: String(S + Math.floor(S / 2)) });
    const store = storeOf(svc);
    const a = await make(svc, 'only one fits');
    await store.index.lookup('local', a, { leaseMs: 30000 });
    const r = await post(svc, 'no room while downloading');
    expect(r.body).toMatchObject({ status: 'failed', error: { code: 'insufficient_storage' } });
    expect(await weightsSha(svc, a)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('regeneration vs removal', () => {
  it('a regeneration of an id whose old files are being removed waits, then writes; nothing it wrote is lost', async () => {
    const svc = await start();
    const store = storeOf(svc);
    const id = await make(svc, 'regenerate me during removal');
    const sha = await weightsSha(svc, id);
    // A remover takes the index entry (and the removal marker) but has not deleted the files yet.
    expect(await store.index.remove('local', [id], 'force', 'evicted')).toEqual([id]);
    const pending = call(svc.url, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'regenerate me during removal' } }, { prefer: 'wait=20' });
    await sleep(400);
    // The regeneration is waiting for the removal (without the marker it would have written
    // already, and the removal below would delete its new files under a fresh index entry).
    const jobs = (await call(svc.url, 'GET', '/v1/jobs?status=running')).body.data;
    expect(jobs).toHaveLength(1);
    await store.removeFiles('local', [id]);
    const done = await pending;
    expect(done.body).toMatchObject({ status: 'succeeded', cached: false, adapter_id: id });
    expect(await weightsSha(svc, id)).toBe(sha);
    expect(await isStored(svc, id)).toBe(true);
  });
});

describe('accounting', () => {
  it('stays exact under concurrent writes, evictions, pins, unpins and deletes', async () => {
    const svc = await start({ TENANT_STORAGE_QUOTA_BYTES: String(5 * S + Math.floor(S / 2)), BATCH_MAX_SIZE: '4' });
    const ids: string[] = [];
    const writes = Array.from({ length: 24 }, (_, i) => post(svc, `race document ${i}`).then((r) => {
      if (r.body.adapter_id) ids.push(r.body.adapter_id);
      return r;
    }));
    const chaos = (async () => {
      for (let round = 0; round < 40; round++) {
        const id = ids[Math.floor(Math.random() * ids.length)];
        if (id) {
          const op = round % 4;
          if (op === 0) await call(svc.url, 'PATCH', `/v1/adapters/${id}`, { pinned: true });
          else if (op === 1) await call(svc.url, 'PATCH', `/v1/adapters/${id}`, { pinned: false });
          else if (op === 2) await call(svc.url, 'DELETE', `/v1/adapters/${id}`);
          else await fetch(`${svc.url}/v1/adapters/${id}/archive`).then((r) => r.arrayBuffer());
        }
        await sleep(3);
      }
    })();
    const replies = await Promise.all(writes);
    await chaos;
    for (const r of replies) expect([200, 507]).toContain(r.status);
    // Unpin everything so the final state is reachable, then compare the counters with the truth.
    for (const id of ids) await call(svc.url, 'PATCH', `/v1/adapters/${id}`, { pinned: false });
    const prefix = `${svc.config.queuePrefix}:t:local:`;
    const indexed = await svc.redis.zrange(`${prefix}adapters`, '0', '-1');
    let bytes = 0;
    for (const id of indexed) {
      const h = await svc.redis.hgetall(`${prefix}adapter:${id}`);
      const rec = JSON.parse(h.record!);
      expect(Number(h.bytes)).toBe(rec.files.reduce((n: number, f: { bytes: number }) => n + f.bytes, 0));
      for (const f of rec.files) expect(await blobsOf(svc).size('local', id, f.name)).toBe(f.bytes);
      bytes += Number(h.bytes);
    }
    const u = (await call(svc.url, 'GET', '/v1/usage')).body;
    expect(u).toMatchObject({ adapters: indexed.length, stored_bytes: bytes, pinned_bytes: 0 });
    expect(bytes).toBeLessThanOrEqual(5 * S + Math.floor(S / 2));
    // What is on disk is exactly what is indexed (evicted and deleted directories are gone).
    expect(await storedIds(svc)).toEqual([...indexed].sort());
  }, 60000);
});

describe('the sweeper', () => {
  it('never runs twice at once, across processes sharing a Redis', async () => {
    const svc = await start();
    const keys = new RedisKeys(svc.config.queuePrefix);
    let active = 0;
    let most = 0;
    const lock = () => new RedisLock({ redis: svc.redis, key: keys.gcLock(), ttlMs: 30000 });
    const work = async () => {
      active++;
      most = Math.max(most, active);
      await sleep(100);
      active--;
      return true;
    };
    const results = await Promise.all(Array.from({ length: 6 }, () => lock().run(work)));
    expect(most).toBe(1);
    expect(results.filter(Boolean)).toHaveLength(1);
    const log = createLogger('silent');
    const sweepers = [0, 1].map(() => new Sweeper({ redis: svc.redis, keys, store: storeOf(svc), graceMs: 0, batch: 100, jobRetentionSeconds: 60, log }));
    const runs = await Promise.all([...sweepers, ...sweepers].map((s) => s.runOnce()));
    expect(runs.filter((r) => r !== undefined)).toHaveLength(1);
  });

  (ON_S3 ? it.skip : it)('removes leftovers only after the grace period, repairs entries whose files are gone, and backfills old entries (filesystem)', async () => {
    const svc = await start();
    const store = storeOf(svc);
    const keys = new RedisKeys(svc.config.queuePrefix);
    const kept = await make(svc, 'kept whole');
    const lost = await make(svc, 'files lost');
    const legacy = await make(svc, 'written before the lifecycle');
    // Leftovers of a crash: an unindexed directory with a whole file and a temp file, a temp
    // file in an indexed directory, an interrupted deletion in tmp.
    const orphan = `ad_${'e'.repeat(40)}`;
    mkdirSync(adapterDir(svc, orphan), { recursive: true });
    writeFileSync(path.join(adapterDir(svc, orphan), 'adapter_config.json'), '{}');
    writeFileSync(path.join(adapterDir(svc, orphan), '.adapter_model.safetensors.0123456789ab.tmp'), 'partial');
    writeFileSync(path.join(adapterDir(svc, kept), '.adapter_model.safetensors.ba9876543210.tmp'), 'partial');
    mkdirSync(path.join(svc.config.dataDir, 'tmp', `deleted.${orphan}.000000000000`), { recursive: true });
    rmSync(adapterDir(svc, lost), { recursive: true });
    // An entry as the service wrote them before: record and created_ms only.
    const legacyKey = keys.adapter('local', legacy);
    const rec = await svc.redis.hget(legacyKey, 'record');
    const created = await svc.redis.hget(legacyKey, 'created_ms');
    await svc.redis.del(legacyKey);
    await svc.redis.zrem(keys.lru('local'), legacy);
    await svc.redis.hincrby(keys.usage('local'), 'bytes', -S);
    await svc.redis.hincrby(keys.usage('local'), 'count', -1);
    await svc.redis.hset(legacyKey, 'record', rec!, 'created_ms', created!);

    const young = new Sweeper({ redis: svc.redis, keys, store, graceMs: 3_600_000, batch: 100, jobRetentionSeconds: 60, log: createLogger('silent') });
    const first = await young.runOnce();
    expect(first).toMatchObject({ orphanDirs: 0, tempFiles: 0, trash: 0, lost: 1, backfilled: 1 });
    expect(await isStored(svc, orphan)).toBe(true);
    expect((await call(svc.url, 'GET', `/v1/adapters/${lost}`)).body.error).toMatchObject({ code: 'gone', message: expect.stringMatching(/files were missing/) });
    // Accounting after the repair and the backfill: kept + legacy.
    expect((await call(svc.url, 'GET', '/v1/usage')).body).toMatchObject({ adapters: 2, stored_bytes: 2 * S });

    // Age the leftovers past the grace period.
    const past = new Date(Date.now() - 2 * 3_600_000);
    for (const p of [adapterDir(svc, orphan), path.join(adapterDir(svc, orphan), '.adapter_model.safetensors.0123456789ab.tmp'), path.join(adapterDir(svc, kept), '.adapter_model.safetensors.ba9876543210.tmp'), path.join(svc.config.dataDir, 'tmp', `deleted.${orphan}.000000000000`)]) utimesSync(p, past, past);
    const second = await young.runOnce();
    expect(second).toMatchObject({ orphanDirs: 1, tempFiles: 2, trash: 1, lost: 0 });
    expect(await isStored(svc, orphan)).toBe(false);
    expect(readdirSync(adapterDir(svc, kept)).some((f) => f.endsWith('.tmp'))).toBe(false);
    const bytes = readFileSync(path.join(adapterDir(svc, kept), 'adapter_model.safetensors'));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(await weightsSha(svc, kept));
    // A lost adapter regenerates under the same id.
    expect((await post(svc, 'files lost')).body).toMatchObject({ status: 'succeeded', adapter_id: lost });
    expect((await waitForJob(svc.url, (await post(svc, 'files lost')).body.id)).cached).toBe(true);
  });
});
