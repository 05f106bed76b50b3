/**
 * Adapter expiry and pinning: short TTLs, the sweeper run by hand (GC_INTERVAL_SECONDS=0), the
 * real service on loopback and a real Redis.
 */
import { call, startTestService, type TestService } from '../helpers/test-service.js';
import { make, MODEL, isStored, post, sleep, weightsSha } from '../helpers/lifecycle.js';

const services: TestService[] = [];
const start = async (env: Record<string, string>) => {
  const svc = await startTestService({ env: { GC_INTERVAL_SECONDS: '0', ...env } });
  services.push(svc);
  return svc;
};
afterAll(async () => {
  for (const s of services) await s.close();
});

describe('expiry', () => {
  it('removes an expired adapter from lookups, lists and disk; the same request regenerates the same id and bytes', async () => {
    const svc = await start({ ADAPTER_TTL_SECONDS: '1' });
    const id = await make(svc, 'Ada Lovelace was born in 1815 in London.');
    const view = (await call(svc.url, 'GET', `/v1/adapters/${id}`)).body;
    expect(Date.parse(view.expires_at) - Date.parse(view.last_used_at)).toBe(1000);
    expect(view).toMatchObject({ pinned: false, bytes: view.files.reduce((n: number, f: { bytes: number }) => n + f.bytes, 0) });
    const sha = await weightsSha(svc, id);
    await sleep(1200);

    const gone = await call(svc.url, 'GET', `/v1/adapters/${id}`);
    expect(gone.status).toBe(410);
    expect(gone.body.error).toMatchObject({ code: 'gone', message: expect.stringMatching(/expired.*same request regenerates it under the same id/) });
    expect((await call(svc.url, 'GET', '/v1/adapters')).body.data).toEqual([]);
    expect((await fetch(`${svc.url}/v1/adapters/${id}/files/adapter_model.safetensors`)).status).toBe(410);

    const report = await svc.worker!.sweeper.runOnce();
    expect(report).toMatchObject({ expired: 1 });
    expect(await isStored(svc, id)).toBe(false);
    expect(await svc.redis.exists(`${svc.config.queuePrefix}:t:local:adapter:${id}`)).toBe(0);
    expect((await call(svc.url, 'GET', '/v1/usage')).body).toMatchObject({ adapters: 0, stored_bytes: 0, pinned_bytes: 0 });
    expect((await call(svc.url, 'GET', `/v1/adapters/${id}`)).body.error.message).toMatch(/expired/);

    const again = await post(svc, 'Ada Lovelace was born in 1815 in London.');
    expect(again.body).toMatchObject({ status: 'succeeded', cached: false, adapter_id: id });
    expect(await weightsSha(svc, id)).toBe(sha);
    expect((await call(svc.url, 'GET', '/v1/usage')).body).toMatchObject({ adapters: 1, stored_bytes: view.bytes });
  });

  it('an expired adapter that was not swept yet is regenerated, not served from the cache', async () => {
    const svc = await start({ ADAPTER_TTL_SECONDS: '1' });
    const id = await make(svc, 'Grace Hopper was born in 1906.');
    await sleep(1200);
    const again = await post(svc, 'Grace Hopper was born in 1906.');
    expect(again.body).toMatchObject({ status: 'succeeded', cached: false, adapter_id: id });
    expect((await call(svc.url, 'GET', '/v1/usage')).body).toMatchObject({ adapters: 1 });
    expect(await isStored(svc, id)).toBe(true);
    expect((await svc.worker!.sweeper.runOnce())?.expired).toBe(0);
  });

  it('a use (cache hit, download) moves expires_at; reading the adapter does not', async () => {
    const svc = await start({ ADAPTER_TTL_SECONDS: '2' });
    const id = await make(svc, 'Alan Turing was born in 1912.');
    const first = (await call(svc.url, 'GET', `/v1/adapters/${id}`)).body;
    await sleep(700);
    expect((await call(svc.url, 'GET', `/v1/adapters/${id}`)).body.expires_at).toBe(first.expires_at);
    await weightsSha(svc, id);
    const afterDownload = (await call(svc.url, 'GET', `/v1/adapters/${id}`)).body;
    expect(Date.parse(afterDownload.expires_at) - Date.parse(first.expires_at)).toBeGreaterThanOrEqual(600);
    await sleep(700);
    const hit = await post(svc, 'Alan Turing was born in 1912.');
    expect(hit.body).toMatchObject({ cached: true, adapter_id: id });
    const afterHit = (await call(svc.url, 'GET', `/v1/adapters/${id}`)).body;
    expect(Date.parse(afterHit.last_used_at)).toBeGreaterThan(Date.parse(afterDownload.last_used_at));
    // Past creation + TTL, but not past the last use + TTL: still there.
    await sleep(900);
    expect(Date.now()).toBeGreaterThan(Date.parse(first.expires_at));
    expect((await call(svc.url, 'GET', `/v1/adapters/${id}`)).status).toBe(200);
    expect((await svc.worker!.sweeper.runOnce())?.expired).toBe(0);
  });
});

describe('pinning', () => {
  it('a pinned adapter never expires; unpinning counts as a use; the id does not change', async () => {
    const svc = await start({ ADAPTER_TTL_SECONDS: '1' });
    const id = await make(svc, 'Marie Curie was born in 1867.');
    const pinned = await call(svc.url, 'PATCH', `/v1/adapters/${id}`, { pinned: true });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ id, pinned: true, expires_at: null });
    expect((await call(svc.url, 'GET', '/v1/usage')).body.pinned_bytes).toBe(pinned.body.bytes);
    await sleep(1200);
    expect((await call(svc.url, 'GET', `/v1/adapters/${id}`)).status).toBe(200);
    expect((await svc.worker!.sweeper.runOnce())?.expired).toBe(0);
    expect(await isStored(svc, id)).toBe(true);
    const hit = await post(svc, 'Marie Curie was born in 1867.');
    expect(hit.body).toMatchObject({ cached: true, adapter_id: id });

    const unpinned = await call(svc.url, 'PATCH', `/v1/adapters/${id}`, { pinned: false });
    expect(unpinned.body).toMatchObject({ id, pinned: false });
    expect(Date.parse(unpinned.body.expires_at)).toBeGreaterThan(Date.now());
    expect((await call(svc.url, 'GET', '/v1/usage')).body.pinned_bytes).toBe(0);
    await sleep(1200);
    expect((await svc.worker!.sweeper.runOnce())?.expired).toBe(1);
    expect(await isStored(svc, id)).toBe(false);
  });

  it.each([
    ['an empty object', {}],
    ['a string', { pinned: 'yes' }],
    ['an unknown field', { pinned: true, ttl: 5 }],
  ])('PATCH with %s is a 400 naming the field', async (_name, body) => {
    const svc = services[services.length - 1]!;
    const id = await make(svc, 'Emmy Noether was born in 1882.');
    const r = await call(svc.url, 'PATCH', `/v1/adapters/${id}`, body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.details.length).toBeGreaterThan(0);
  });

  it('PATCH of an unknown id is a 404; of a non-JSON body a 415', async () => {
    const svc = services[services.length - 1]!;
    expect((await call(svc.url, 'PATCH', `/v1/adapters/ad_${'0'.repeat(40)}`, { pinned: true })).status).toBe(404);
    expect((await call(svc.url, 'PATCH', `/v1/adapters/nonsense`, { pinned: true })).status).toBe(404);
    const id = await make(svc, 'Lise Meitner was born in 1878.');
    expect((await call(svc.url, 'PATCH', `/v1/adapters/${id}`, 'pinned=true', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await call(svc.url, 'GET', `/v1/adapters?model=${MODEL}`)).body.data.some((a: { id: string }) => a.id === id)).toBe(true);
  });
});
