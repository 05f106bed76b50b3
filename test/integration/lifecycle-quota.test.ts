/**
 * Storage quotas: LRU eviction, pins under quota pressure, 507 insufficient_storage at request
 * and at store time, per-tenant overrides from the keys file, and GET /v1/usage.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashKey } from '../../src/auth/api-keys.js';
import { until } from '../helpers/net.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { adapterBytes, make, isStored, storedIds, post, sleep, weightsSha } from '../helpers/lifecycle.js';

let S: number;
const services: TestService[] = [];
const start = async (env: Record<string, string>, worker = true) => {
  const svc = await startTestService({ env: { GC_INTERVAL_SECONDS: '0', ...env }, worker });
  services.push(svc);
  return svc;
};
beforeAll(async () => {
  S = await adapterBytes();
});
afterAll(async () => {
  for (const s of services) await s.close();
});

const usage = async (svc: TestService, headers: Record<string, string> = {}) => (await call(svc.url, 'GET', '/v1/usage', undefined, headers)).body;
const status = async (svc: TestService, id: string) => (await call(svc.url, 'GET', `/v1/adapters/${id}`)).status;

describe('a storage quota', () => {
  it('evicts the least recently used unpinned adapters first; evicted ids answer 410 and regenerate identically', async () => {
    const svc = await start({ TENANT_STORAGE_QUOTA_BYTES: String(3 * S + Math.floor(S / 2)) });
    const a = await make(svc, 'quota document A');
    const b = await make(svc, 'quota document B');
    const c = await make(svc, 'quota document C');
    const shaB = await weightsSha(svc, b); // B used after A and C…
    await sleep(5);
    await weightsSha(svc, a); // …and A after B: LRU order is now C, B, A
    const d = await make(svc, 'quota document D');
    expect(await status(svc, c)).toBe(410);
    expect((await call(svc.url, 'GET', `/v1/adapters/${c}`)).body.error.message).toMatch(/evicted.*storage quota.*same request regenerates it/);
    // The evicted files go right after the index entry (the worker deletes them after indexing D).
    await until(async () => !(await isStored(svc, c)), 5000, 'the evicted files to go');
    for (const id of [a, b, d]) expect(await status(svc, id)).toBe(200);
    expect(await usage(svc)).toMatchObject({ adapters: 3, stored_bytes: 3 * S, quota_bytes: 3 * S + Math.floor(S / 2) });

    // Pinned adapters are passed by: with B pinned, E evicts A (then D), never B.
    expect((await call(svc.url, 'PATCH', `/v1/adapters/${b}`, { pinned: true })).status).toBe(200);
    const e = await make(svc, 'quota document E');
    expect(await status(svc, a)).toBe(410);
    await make(svc, 'quota document F');
    expect(await status(svc, d)).toBe(410);
    expect(await status(svc, b)).toBe(200);
    expect(await status(svc, e)).toBe(200);

    // Regenerating an evicted adapter gives the same id and bytes (and evicts the next in line).
    const again = await post(svc, 'quota document B'); // a cache hit: B was never evicted
    expect(again.body).toMatchObject({ cached: true, adapter_id: b });
    expect(await weightsSha(svc, b)).toBe(shaB);
    const regenerated = await post(svc, 'quota document C');
    expect(regenerated.body).toMatchObject({ status: 'succeeded', cached: false, adapter_id: c });
    expect(await usage(svc)).toMatchObject({ adapters: 3, stored_bytes: 3 * S, pinned_bytes: S });

    // Prometheus: evictions, stored bytes per tenant, sweeper runs.
    await svc.worker!.sweeper.runOnce();
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toContain('hyperadapt_adapters_evicted_total 4');
    expect(text).toContain(`hyperadapt_tenant_stored_bytes{tenant="local",kind="all"} ${3 * S}`);
    expect(text).toContain(`hyperadapt_tenant_stored_bytes{tenant="local",kind="pinned"} ${S}`);
    expect(text).toContain('hyperadapt_gc_runs_total{outcome="ran"} 1');
    expect(text).toMatch(/hyperadapt_adapters_expired_total 0/);
  });

  it('refuses new work with 507 when pinned adapters fill it, saying how much is stored and pinned', async () => {
    const svc = await start({ TENANT_STORAGE_QUOTA_BYTES: String(2 * S + Math.floor(S / 2)) });
    const x = await make(svc, 'pinned X');
    const y = await make(svc, 'pinned Y');
    for (const id of [x, y]) await call(svc.url, 'PATCH', `/v1/adapters/${id}`, { pinned: true });
    const refused = await post(svc, 'one too many');
    expect(refused.status).toBe(507);
    expect(refused.body.error.code).toBe('insufficient_storage');
    expect(refused.body.error.message).toContain(`stores ${2 * S} of its ${2 * S + Math.floor(S / 2)}-byte quota, ${2 * S} of them in pinned adapters`);
    // A cache hit is not new work.
    expect((await post(svc, 'pinned X')).body).toMatchObject({ cached: true, adapter_id: x });
    await call(svc.url, 'PATCH', `/v1/adapters/${y}`, { pinned: false });
    expect((await post(svc, 'one too many')).body.status).toBe('succeeded');
    expect(await status(svc, y)).toBe(410);
    expect(await usage(svc)).toMatchObject({ adapters: 2, stored_bytes: 2 * S, pinned_bytes: S });
  });

  it('fails a queued job with insufficient_storage when pins filled the quota while it waited, and removes its files', async () => {
    const svc = await start({ TENANT_STORAGE_QUOTA_BYTES: String(2 * S + Math.floor(S / 2)) });
    const x = await make(svc, 'waiting X');
    const y = await make(svc, 'waiting Y');
    await svc.worker!.close();
    const queued = await call(svc.url, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'waited too long' } });
    expect(queued.status).toBe(202);
    for (const id of [x, y]) await call(svc.url, 'PATCH', `/v1/adapters/${id}`, { pinned: true });
    await svc.startWorker();
    const job = await waitForJob(svc.url, queued.body.id);
    expect(job).toMatchObject({ status: 'failed', adapter_id: null, error: { code: 'insufficient_storage' } });
    expect(job.error.message).toMatch(/pinned adapters/);
    for (let i = 0; i < 50 && (await storedIds(svc)).length > 2; i++) await sleep(20);
    expect(await storedIds(svc)).toEqual([x, y].sort());
    expect(await usage(svc)).toMatchObject({ adapters: 2, stored_bytes: 2 * S, pinned_bytes: 2 * S });
  });

  it('takes a per-tenant quota from the keys file over the default, and shows each in /v1/usage', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keys-'));
    const file = path.join(dir, 'api-keys');
    writeFileSync(file, `# test keys\nsmall:${hashKey('small-key-0123456789').toString('hex')} quota_bytes=${S + 10}\nbig:${hashKey('big-key-0123456789').toString('hex')}\n`);
    const svc = await start({ API_KEYS_FILE: file, TENANT_STORAGE_QUOTA_BYTES: String(10 * S) });
    const small = { authorization: 'Bearer small-key-0123456789' };
    const big = { authorization: 'Bearer big-key-0123456789' };
    expect(await usage(svc, small)).toMatchObject({ object: 'usage', tenant: 'small', quota_bytes: S + 10, adapters: 0 });
    expect(await usage(svc, big)).toMatchObject({ tenant: 'big', quota_bytes: 10 * S });
    const first = await make(svc, 'small tenant one', small);
    await make(svc, 'small tenant two', small);
    expect((await call(svc.url, 'GET', `/v1/adapters/${first}`, undefined, small)).status).toBe(410);
    await make(svc, 'big tenant one', big);
    await make(svc, 'big tenant two', big);
    expect(await usage(svc, big)).toMatchObject({ adapters: 2, stored_bytes: 2 * S, available_bytes: 8 * S });
    expect(await usage(svc, small)).toMatchObject({ adapters: 1, stored_bytes: S, available_bytes: 10 });
  });
});
