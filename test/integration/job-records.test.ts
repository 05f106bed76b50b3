/**
 * Job records stay bounded and cheap: compact hashes, a short retention for cache hits, an
 * optional count bound per tenant, and status filters answered from an index.
 */
import { JobStore } from '../../src/store/job-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { make, MODEL, post } from '../helpers/lifecycle.js';

const services: TestService[] = [];
const start = async (env: Record<string, string>, worker = true) => {
  const svc = await startTestService({ env: { GC_INTERVAL_SECONDS: '0', ...env }, worker });
  services.push(svc);
  return svc;
};
afterAll(async () => {
  for (const s of services) await s.close();
});

describe('job records', () => {
  it('are compact, and a cache hit is kept for JOB_CACHED_RETENTION_SECONDS only', async () => {
    const svc = await start({ JOB_CACHED_RETENTION_SECONDS: '120', JOB_RETENTION_SECONDS: '7200' });
    await make(svc, 'retention document');
    const hit = await post(svc, 'retention document');
    expect(hit.body.cached).toBe(true);
    const jobKey = (id: string) => `${svc.config.queuePrefix}:t:local:job:${id}`;
    expect(await svc.redis.ttl(jobKey(hit.body.id))).toBeLessThanOrEqual(120);
    const miss = await post(svc, 'another retention document');
    expect(await svc.redis.ttl(jobKey(miss.body.id))).toBeGreaterThan(7000);
    // No empty fields are stored: nothing the view would not fill in itself.
    const stored = await svc.redis.hgetall(jobKey(hit.body.id));
    expect(Object.values(stored).every((v) => v !== '')).toBe(true);
    expect(Object.keys(stored)).not.toContain('webhook');
    expect((await call(svc.url, 'GET', `/v1/jobs/${hit.body.id}`)).body).toMatchObject({ error: null, metadata: {}, progress: 1, cached: true });
  });

  it('keep at most JOB_MAX_PER_TENANT per tenant, oldest ended first, never an active one', async () => {
    const svc = await start({ JOB_MAX_PER_TENANT: '5' }, false);
    const queued: string[] = [];
    for (let i = 0; i < 7; i++) queued.push((await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `still queued ${i}` } })).body.id);
    // All seven are active: none may go, whatever the bound.
    expect((await call(svc.url, 'GET', '/v1/jobs?limit=100')).body.data).toHaveLength(7);
    await svc.startWorker();
    for (const id of queued) await waitForJob(svc.url, id);
    const newest: string[] = [];
    for (let i = 0; i < 3; i++) newest.push((await post(svc, `bounded ${i}`)).body.id);
    const all = (await call(svc.url, 'GET', '/v1/jobs?limit=100')).body.data.map((j: { id: string }) => j.id);
    expect(all.length).toBeLessThanOrEqual(5);
    for (const id of newest) expect(all).toContain(id);
    for (const id of queued.slice(0, 3)) expect((await call(svc.url, 'GET', `/v1/jobs/${id}`)).status).toBe(404);
  });

  it('answers status filters from an index: right members, pages, and cleanup of expired records', async () => {
    const svc = await start({}, false);
    const keys = new RedisKeys(svc.config.queuePrefix);
    const jobs = new JobStore({ redis: svc.redis, keys, retentionSeconds: 3600, idempotencyTtlSeconds: 60 });
    // 60 jobs: every third one fails, every fifth is canceled, the rest stay queued.
    const ids: { id: string; status: string }[] = [];
    for (let i = 0; i < 60; i++) {
      const adapterId = `ad_${i.toString(16).padStart(40, '0')}`;
      const created = await jobs.create({ tenant: 'local', kind: 'text', model: MODEL, adapterId, metadata: { i: String(i) } });
      if (created.outcome !== 'queued') throw new Error('expected queued');
      let status = 'queued';
      if (i % 3 === 0) {
        await jobs.finishComputation({ tenant: 'local', adapterId, computation: created.computation, outcome: 'failed', error: { code: 'x', message: 'y' } });
        status = 'failed';
      } else if (i % 5 === 0) {
        await jobs.cancel('local', created.jobId);
        status = 'canceled';
      }
      ids.push({ id: created.jobId, status });
    }
    // The unfiltered listing's order (newest first; ids break ties within a millisecond).
    const everything = (await call(svc.url, 'GET', '/v1/jobs?limit=100')).body.data as { id: string; status: string }[];
    expect(everything).toHaveLength(60);
    for (const status of ['failed', 'canceled', 'queued']) {
      const want = everything.filter((j) => j.status === status).map((j) => j.id);
      expect(want.sort()).toEqual(ids.filter((j) => j.status === status).map((j) => j.id).sort());
      want.splice(0, want.length, ...everything.filter((j) => j.status === status).map((j) => j.id));
      const got: string[] = [];
      let cursor: string | null = null;
      do {
        const page: any = (await call(svc.url, 'GET', `/v1/jobs?status=${status}&limit=7${cursor ? `&cursor=${cursor}` : ''}`)).body;
        expect(page.data.every((j: { status: string }) => j.status === status)).toBe(true);
        got.push(...page.data.map((j: { id: string }) => j.id));
        cursor = page.next_cursor;
      } while (cursor);
      expect(got).toEqual(want);
    }
    // Expired records leave the indexes when a listing meets them.
    const failed = ids.filter((j) => j.status === 'failed');
    await svc.redis.del(...failed.slice(0, 5).map((j) => keys.job('local', j.id)));
    const page = (await call(svc.url, 'GET', '/v1/jobs?status=failed&limit=100')).body;
    expect(page.data).toHaveLength(failed.length - 5);
    expect(await svc.redis.zcard(keys.jobsByStatus('local', 'failed'))).toBe(failed.length - 5);
    expect(await svc.redis.zcard(keys.jobs('local'))).toBe(60 - 5);
  });
});
