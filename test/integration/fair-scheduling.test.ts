/**
 * Fair scheduling across tenants: skewed backlogs interleave, weights split the workers, a
 * tenant's running cap holds across worker processes, cancel and retries work for dispatched
 * computations, and per-tenant bounds on event streams and waiting requests answer 429.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashKey } from '../../src/auth/api-keys.js';
import { call, REPO_ROOT, startTestService, testEnv, waitForJob, type TestService } from '../helpers/test-service.js';
import { MODEL, sleep } from '../helpers/lifecycle.js';
import { until } from '../helpers/net.js';

const services: TestService[] = [];
afterAll(async () => {
  for (const s of services) await s.close();
});

const TENANTS = ['alpha', 'beta', 'gamma'] as const;
const auth = (t: string) => ({ authorization: `Bearer key-of-${t}-0123456789` });

/** A keys file for alpha, beta and gamma, with `extra` settings per tenant. */
function keysFile(extra: Partial<Record<(typeof TENANTS)[number], string>> = {}): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'keys-')), 'api-keys');
  writeFileSync(file, TENANTS.map((t) => `${t}:${hashKey(`key-of-${t}-0123456789`).toString('hex')} ${extra[t] ?? ''}`.trim()).join('\n') + '\n');
  return file;
}

async function start(env: Record<string, string>): Promise<TestService> {
  const svc = await startTestService({ env: { GC_INTERVAL_SECONDS: '0', RATE_LIMIT_RPS: '0', ...env }, worker: false });
  services.push(svc);
  return svc;
}

/** Queues n jobs for a tenant (no worker runs yet); returns their ids. */
async function queue(svc: TestService, tenant: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `${tenant} backlog ${i}` } }, auth(tenant));
    expect(r.status).toBe(202);
    ids.push(r.body.id);
  }
  return ids;
}

/** Every job's tenant, in the order the jobs finished. */
async function completionOrder(svc: TestService, byTenant: Record<string, string[]>): Promise<string[]> {
  const done: { tenant: string; at: number; started: number }[] = [];
  for (const [tenant, ids] of Object.entries(byTenant)) {
    for (const id of ids) {
      let j = (await call(svc.url, 'GET', `/v1/jobs/${id}`, undefined, auth(tenant))).body;
      for (const deadline = Date.now() + 60000; j.status !== 'succeeded' && Date.now() < deadline; await sleep(20)) {
        j = (await call(svc.url, 'GET', `/v1/jobs/${id}`, undefined, auth(tenant))).body;
      }
      expect(j.status).toBe('succeeded');
      done.push({ tenant, at: Date.parse(j.finished_at), started: Date.parse(j.started_at) });
    }
  }
  return done.sort((a, b) => a.at - b.at || a.started - b.started).map((d) => d.tenant);
}

describe('fair scheduling', () => {
  it('interleaves three tenants with skewed backlogs, whatever the arrival order', async () => {
    const svc = await start({ API_KEYS_FILE: keysFile(), SCHEDULER_DEPTH: '4', BATCH_MAX_SIZE: '4' });
    const byTenant = { alpha: await queue(svc, 'alpha', 60), beta: await queue(svc, 'beta', 5), gamma: await queue(svc, 'gamma', 15) };
    const before = await (await fetch(`${svc.url}/metrics`)).text();
    expect(before).toContain('hyperadapt_tenant_jobs{tenant="alpha",state="deferred"} 56');
    expect(before).toContain('hyperadapt_tenant_jobs{tenant="beta",state="queued"} 5');
    await svc.startWorker();
    const order = await completionOrder(svc, byTenant);
    const after = await (await fetch(`${svc.url}/metrics`)).text();
    expect(after).toContain('hyperadapt_tenant_wait_seconds_count{tenant="beta"} 5');
    expect(after).toContain('hyperadapt_tenant_jobs{tenant="alpha",state="deferred"} 0');
    expect(order.filter((t) => t === 'alpha')).toHaveLength(60);
    // Under one FIFO, beta would finish after all 60 of alpha's jobs; in turn, after ~10 of them.
    const betaDone = order.lastIndexOf('beta');
    expect(order.slice(0, betaDone).filter((t) => t === 'alpha').length).toBeLessThanOrEqual(16);
    expect(order.indexOf('gamma')).toBeLessThan(12);
    expect(order.slice(0, 30).filter((t) => t === 'gamma').length).toBeGreaterThanOrEqual(8);
  }, 60000);

  it('splits the workers by weight while both tenants are backlogged', async () => {
    const svc = await start({ API_KEYS_FILE: keysFile({ alpha: 'weight=2' }), SCHEDULER_DEPTH: '3', BATCH_MAX_SIZE: '3' });
    const byTenant = { alpha: await queue(svc, 'alpha', 70), beta: await queue(svc, 'beta', 70) };
    await svc.startWorker();
    const order = await completionOrder(svc, byTenant);
    // The first 3 went straight in; from then on alpha gets two turns for beta's one.
    const window = order.slice(3, 63);
    const alpha = window.filter((t) => t === 'alpha').length;
    expect(alpha).toBeGreaterThanOrEqual(36);
    expect(alpha).toBeLessThanOrEqual(44);
  }, 60000);

  it("holds a tenant's running cap across two worker processes", async () => {
    const env = Object.fromEntries(Object.entries(testEnv({ TENANT_MAX_RUNNING: '2', GC_INTERVAL_SECONDS: '0', RATE_LIMIT_RPS: '0' })).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const svc = await startTestService({ env, worker: false });
    services.push(svc);
    const workers: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, [path.join(REPO_ROOT, 'dist/workers/generate/main.js')], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' }));
    try {
      // All at once: without the cap, both workers would run batches of them together.
      const ids = (await Promise.all(Array.from({ length: 40 }, (_, i) => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `capped ${i}` } })))).map((r) => r.body.id as string);
      const running = `${svc.config.queuePrefix}:t:local:jobs:s:running`;
      const inFlight = `${svc.config.queuePrefix}:fair:count`;
      let most = 0;
      let mostInFlight = 0;
      let done = false;
      const sampler = (async () => {
        while (!done) {
          most = Math.max(most, await svc.redis.zcard(running));
          mostInFlight = Math.max(mostInFlight, Number((await svc.redis.hget(inFlight, 'local')) ?? 0));
          await sleep(1);
        }
      })();
      for (const id of ids) expect((await waitForJob(svc.url, id, 60000)).status).toBe('succeeded');
      done = true;
      await sampler;
      expect(most).toBeGreaterThanOrEqual(1);
      expect(most).toBeLessThanOrEqual(2);
      expect(mostInFlight).toBeLessThanOrEqual(2);
      expect(Number(await svc.redis.hget(inFlight, 'local'))).toBe(0);
    } finally {
      for (const w of workers) w.kill('SIGKILL');
    }
  }, 60000);

  it('cancels a computation waiting its turn; its place is released and nothing is left behind', async () => {
    const svc = await start({ SCHEDULER_DEPTH: '1' });
    const first = (await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'runs first' } })).body.id;
    const second = (await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'waits its turn' } })).body.id;
    const fp = `${svc.config.queuePrefix}:fair:`;
    expect(await svc.redis.llen(`${fp}q:local`)).toBe(1);
    expect((await call(svc.url, 'POST', `/v1/jobs/${second}/cancel`)).body.status).toBe('canceled');
    await svc.startWorker();
    expect((await waitForJob(svc.url, first)).status).toBe('succeeded');
    await until(async () => (await svc.redis.zcard(`${fp}inflight`)) === 0 && (await svc.redis.llen(`${fp}ring`)) === 0, 10000, 'the fair queue to drain');
    expect((await call(svc.url, 'GET', `/v1/jobs/${second}`)).body.status).toBe('canceled');
    expect(await svc.redis.hlen(`${fp}pending`)).toBe(0);
    expect(await svc.redis.zcard(`${fp}dispatching`)).toBe(0);
    expect(Number(await svc.redis.hget(`${fp}count`, 'local'))).toBe(0);
  });

  it('identical requests share one computation while it waits its turn', async () => {
    const svc = await start({ SCHEDULER_DEPTH: '1' });
    await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'holds the only place' } });
    const twins = await Promise.all([0, 1, 2].map(() => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'shared while waiting' } })));
    const comps = await Promise.all(twins.map((t) => svc.redis.hget(`${svc.config.queuePrefix}:t:local:job:${t.body.id}`, 'computation')));
    expect(new Set(comps).size).toBe(1);
    expect(await svc.redis.llen(`${svc.config.queuePrefix}:fair:q:local`)).toBe(1);
    await svc.startWorker();
    const jobs = await Promise.all(twins.map((t) => waitForJob(svc.url, t.body.id)));
    expect(new Set(jobs.map((j) => j.adapter_id)).size).toBe(1);
    expect(svc.completed()).toBe(2);
  });

  it('retries dispatched computations through a store failure; every job completes', async () => {
    const svc = await start({ SCHEDULER_DEPTH: '1', JOB_ATTEMPTS: '6', JOB_BACKOFF_MS: '100' });
    const blocker = path.join(svc.config.dataDir, 'tenants');
    writeFileSync(blocker, 'not a directory');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `retry through the fair queue ${i}` } })).body.id);
    await svc.startWorker();
    await sleep(400);
    rmSync(blocker);
    for (const id of ids) expect((await waitForJob(svc.url, id, 30000)).status).toBe('succeeded');
  }, 40000);
});

describe('per-tenant bounds in an API process', () => {
  it('answers 429 with Retry-After past a tenant\'s open event streams; other tenants are unaffected', async () => {
    const svc = await start({ API_KEYS_FILE: keysFile(), MAX_STREAMS_PER_TENANT: '2' });
    const job = (await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'watched' } }, auth('alpha'))).body.id;
    const open = [0, 1].map(() => new AbortController());
    const streams = await Promise.all(open.map((c) => fetch(`${svc.url}/v1/jobs/${job}/events`, { headers: auth('alpha'), signal: c.signal })));
    expect(streams.map((s) => s.status)).toEqual([200, 200]);
    const third = await call(svc.url, 'GET', `/v1/jobs/${job}/events`, undefined, auth('alpha'));
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(third.body.error.message).toMatch(/2 open event streams/);
    const other = (await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'beta watched' } }, auth('beta'))).body.id;
    const betaStream = new AbortController();
    expect((await fetch(`${svc.url}/v1/jobs/${other}/events`, { headers: auth('beta'), signal: betaStream.signal })).status).toBe(200);
    open[0]!.abort();
    await until(async () => {
      const c = new AbortController();
      const r = await fetch(`${svc.url}/v1/jobs/${job}/events`, { headers: auth('alpha'), signal: c.signal });
      c.abort();
      return r.status === 200;
    }, 5000, 'a slot to free');
    open[1]!.abort();
    betaStream.abort();
  });

  it("answers 429 past a tenant's waiting requests; requests that do not wait still go through", async () => {
    const svc = await start({ MAX_WAITS_PER_TENANT: '1' });
    const waiting = call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'waits' } }, { prefer: 'wait=5' });
    await sleep(200);
    const second = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'also waits' } }, { prefer: 'wait=5' });
    expect(second.status).toBe(429);
    expect(second.body.error.message).toMatch(/1 waiting requests \(Prefer: wait\)/);
    expect((await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'does not wait' } })).status).toBe(202);
    await svc.startWorker();
    expect((await waiting).status).toBe(200);
    expect((await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'waits later' } }, { prefer: 'wait=5' })).status).toBe(200);
  });
});
