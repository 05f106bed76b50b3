/**
 * POST a context → job → succeeded → download, against a real Redis, a real worker and real
 * ONNX sessions (the fixture generator).
 */
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { decodeTensor } from '../../src/adapters/dtype.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { readTarGz } from '../helpers/archive.js';
import { until } from '../helpers/net.js';

const MODEL = 'fixture-text-tiny';
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

const post = (body: unknown, headers: Record<string, string> = {}) => call(svc.url, 'POST', '/v1/adapters', body, headers);
const ctx = (text: string, extra: object = {}) => ({ model: MODEL, input: { context: text }, ...extra });

describe('POST /v1/adapters → PEFT adapter', () => {
  let adapterId: string;

  it('accepts a context with 202, a Job and Location, and the job succeeds', async () => {
    const r = await post(ctx('Ada lives in the blue city.', { metadata: { user: 'u1' } }));
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ object: 'job', kind: 'text', model: MODEL, cached: false, adapter_id: null, metadata: { user: 'u1' } });
    expect(['queued', 'running', 'succeeded']).toContain(r.body.status);
    expect(r.body.id).toMatch(/^job_[0-9a-f]{24}$/);
    expect(r.headers.get('location')).toBe(`/v1/jobs/${r.body.id}`);
    const job = await waitForJob(svc.url, r.body.id);
    expect(job.status).toBe('succeeded');
    expect(job.adapter_id).toMatch(/^ad_[0-9a-f]{40}$/);
    expect(job.progress).toBe(1);
    expect(job.started_at).not.toBeNull();
    expect(job.finished_at).not.toBeNull();
    expect(job.urls.adapter).toBe(`/v1/adapters/${job.adapter_id}`);
    adapterId = job.adapter_id;
  });

  it('serves the Adapter record with file digests', async () => {
    const r = await call(svc.url, 'GET', `/v1/adapters/${adapterId}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: adapterId, object: 'adapter', model: MODEL, format: 'peft', r: 8, lora_alpha: 16, dtype: 'float32', target_modules: ['q_proj', 'v_proj'], base_model: 'hyperadapt/fixture-base' });
    expect(r.body.model_sha256).toBe(svc.registry.get(MODEL)!.manifest.sha256);
    expect(r.body.files.map((f: any) => f.name).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
    expect(r.body.urls.files['adapter_model.safetensors']).toBe(`/v1/adapters/${adapterId}/files/adapter_model.safetensors`);
  });

  it('writes a safetensors file PEFT loads: keys, shapes, finite values, metadata', async () => {
    const res = await fetch(`${svc.url}/v1/adapters/${adapterId}/files/adapter_model.safetensors`);
    expect(res.status).toBe(200);
    const st = readSafetensors(new Uint8Array(await res.arrayBuffer()));
    const manifest = svc.registry.get(MODEL)!.manifest;
    const expected = manifest.groups.flatMap((g) => g.modules.flatMap((m) => [`base_model.model.${m}.lora_A.weight`, `base_model.model.${m}.lora_B.weight`]));
    expect(Object.keys(st.tensors).sort()).toEqual(expected.sort());
    for (const g of manifest.groups) {
      for (const m of g.modules) {
        const a = st.tensors[`base_model.model.${m}.lora_A.weight`]!;
        const b = st.tensors[`base_model.model.${m}.lora_B.weight`]!;
        expect(a.shape).toEqual([manifest.lora.r, g.in]);
        expect(b.shape).toEqual([g.out, manifest.lora.r]);
        expect(a.dtype).toBe('F32');
        const values = decodeTensor(a.data, 'float32');
        expect(values.every(Number.isFinite)).toBe(true);
        expect(values.some((v) => v !== 0)).toBe(true);
      }
    }
    expect(st.metadata).toMatchObject({ format: 'pt', 'hyperadapt.adapter_id': adapterId, 'hyperadapt.model_sha256': manifest.sha256, 'hyperadapt.vllm_rank_ok': 'true' });
  });

  it('writes an adapter_config.json with the fields PEFT reads', async () => {
    const r = await call(svc.url, 'GET', `/v1/adapters/${adapterId}/files/adapter_config.json`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 8,
      lora_alpha: 16,
      use_rslora: false,
      target_modules: ['q_proj', 'v_proj'],
      base_model_name_or_path: 'hyperadapt/fixture-base',
      bias: 'none',
      modules_to_save: null,
    });
  });

  it('serves files with ETag, immutable caching, 304 and byte ranges', async () => {
    const rec = (await call(svc.url, 'GET', `/v1/adapters/${adapterId}`)).body;
    const file = rec.files.find((f: any) => f.name === 'adapter_model.safetensors');
    const url = `${svc.url}/v1/adapters/${adapterId}/files/adapter_model.safetensors`;
    const full = await fetch(url);
    expect(full.headers.get('etag')).toBe(`"${file.sha256}"`);
    expect(full.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    const bytes = Buffer.from(await full.arrayBuffer());
    expect(bytes.length).toBe(file.bytes);
    const notModified = await fetch(url, { headers: { 'if-none-match': `"${file.sha256}"` } });
    expect(notModified.status).toBe(304);
    const range = await fetch(url, { headers: { range: 'bytes=8-15' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 8-15/${file.bytes}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(8, 16))).toBe(true);
    const unsatisfiable = await fetch(url, { headers: { range: `bytes=${file.bytes + 10}-` } });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.get('content-range')).toBe(`bytes */${file.bytes}`);
    const suffix = await fetch(url, { headers: { range: 'bytes=-8' } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(bytes.length - 8))).toBe(true);
    // If-Range naming another version: the whole (current) file, not a slice of it.
    const stale = await fetch(url, { headers: { range: 'bytes=8-15', 'if-range': '"not-this-one"' } });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer()).equals(bytes)).toBe(true);
    const matching = await fetch(url, { headers: { range: 'bytes=8-15', 'if-range': `"${file.sha256}"` } });
    expect(matching.status).toBe(206);
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(file.bytes));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
  });

  it.each([
    ['', 'application/x-tar', 'tar'],
    ['?compression=none', 'application/x-tar', 'tar'],
    ['?compression=gzip', 'application/gzip', 'tar.gz'],
  ])('serves an archive%s laid out as save_pretrained, with the same bytes as the files', async (query, type, ext) => {
    const res = await fetch(`${svc.url}/v1/adapters/${adapterId}/archive${query}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${adapterId}.${ext}"`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes[0] === 0x1f && bytes[1] === 0x8b).toBe(ext === 'tar.gz');
    const files = await readTarGz(bytes);
    expect([...files.keys()].sort()).toEqual([`${adapterId}/README.md`, `${adapterId}/adapter_config.json`, `${adapterId}/adapter_model.safetensors`]);
    const direct = Buffer.from(await (await fetch(`${svc.url}/v1/adapters/${adapterId}/files/adapter_model.safetensors`)).arrayBuffer());
    expect(files.get(`${adapterId}/adapter_model.safetensors`)!.equals(direct)).toBe(true);
  });

  it('refuses an unknown archive compression with 400', async () => {
    const r = await call(svc.url, 'GET', `/v1/adapters/${adapterId}/archive?compression=zstd`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });

  it('answers a repeat request from the cache with 200 and cached: true, without the worker', async () => {
    const before = svc.completed();
    const r = await post({ input: { context: 'Ada lives in the blue city.' }, model: MODEL, metadata: { user: 'u2' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'succeeded', cached: true, adapter_id: adapterId, metadata: { user: 'u2' } });
    // The same text in another Unicode form is the same adapter.
    expect(svc.completed()).toBe(before);
  });

  it('writes float16 and bfloat16 adapters as separate adapters', async () => {
    for (const [dtype, st] of [['float16', 'F16'], ['bfloat16', 'BF16']] as const) {
      const r = await post(ctx('Ada lives in the blue city.', { options: { dtype } }), { prefer: 'wait=10' });
      expect(r.status).toBe(200);
      expect(r.body.adapter_id).not.toBe(adapterId);
      const res = await fetch(`${svc.url}/v1/adapters/${r.body.adapter_id}/files/adapter_model.safetensors`);
      const parsed = readSafetensors(new Uint8Array(await res.arrayBuffer()));
      expect(Object.values(parsed.tensors).every((t) => t.dtype === st)).toBe(true);
      expect((await call(svc.url, 'GET', `/v1/adapters/${r.body.adapter_id}`)).body.dtype).toBe(dtype);
    }
  });

  it('runs the generator once for 20 concurrent identical requests', async () => {
    const before = svc.completed();
    const replies = await Promise.all(Array.from({ length: 20 }, () => post(ctx('twenty identical requests at once'))));
    expect(replies.every((r) => r.status === 202 || r.status === 200)).toBe(true);
    const jobs = await Promise.all(replies.map((r) => waitForJob(svc.url, r.body.id)));
    expect(new Set(jobs.map((j) => j.id)).size).toBe(20);
    expect(jobs.every((j) => j.status === 'succeeded')).toBe(true);
    expect(new Set(jobs.map((j) => j.adapter_id)).size).toBe(1);
    // Jobs read "succeeded" as soon as the finish script ran; BullMQ's `completed` event (what
    // svc.completed() counts) follows the worker's own bookkeeping, later on a slow store. Every
    // computation has passed its finish script by now, so a second one would be counted within
    // moments of the first.
    await until(() => svc.completed() - before >= 1, 10000, 'the computation to complete');
    await new Promise((r) => setTimeout(r, 200));
    expect(svc.completed() - before).toBe(1);
  });

  it('gives the same adapter id for the same text in NFC and NFD', async () => {
    const a = await post(ctx('Zoë in Málaga'), { prefer: 'wait=10' });
    const b = await post(ctx('Zoë in Málaga'.normalize('NFD')));
    expect(b.status).toBe(200);
    expect(b.body.cached).toBe(true);
    expect(b.body.adapter_id).toBe(a.body.adapter_id);
  });

  it('deletes an adapter: 204, then 404, and a new request generates it again', async () => {
    const made = await post(ctx('an adapter to delete'), { prefer: 'wait=10' });
    const id = made.body.adapter_id;
    expect((await call(svc.url, 'DELETE', `/v1/adapters/${id}`)).status).toBe(204);
    expect((await call(svc.url, 'GET', `/v1/adapters/${id}`)).status).toBe(404);
    expect((await call(svc.url, 'GET', `/v1/adapters/${id}/files/adapter_model.safetensors`)).status).toBe(404);
    expect((await call(svc.url, 'DELETE', `/v1/adapters/${id}`)).status).toBe(404);
    const again = await post(ctx('an adapter to delete'), { prefer: 'wait=10' });
    expect(again.body).toMatchObject({ status: 'succeeded', cached: false, adapter_id: id });
    expect((await call(svc.url, 'GET', `/v1/adapters/${id}`)).status).toBe(200);
  });

  it('keeps the job record readable for the retention period', async () => {
    const r = await post(ctx('retention check'), { prefer: 'wait=10' });
    const ttl = await svc.redis.ttl(`${svc.config.queuePrefix}:t:local:job:${r.body.id}`);
    expect(ttl).toBeGreaterThan(svc.config.jobRetentionSeconds - 60);
    expect(ttl).toBeLessThanOrEqual(svc.config.jobRetentionSeconds);
  });
});

describe('Prefer: wait', () => {
  it('holds the request until the job ends and answers 200 with Preference-Applied', async () => {
    const r = await post(ctx('waiting for this one'), { prefer: 'respond-async, wait=10' });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('succeeded');
    expect(r.headers.get('preference-applied')).toBe('wait=10');
  });

  it.each(['wait=0', 'wait=61', 'wait=abc', 'wait=1.5'])('refuses %s with 400', async (prefer) => {
    const r = await post(ctx('bad prefer'), { prefer });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });
});

describe('Idempotency-Key', () => {
  it('returns the same job for the same key and body, and 409 for another body', async () => {
    const key = `idem-${Date.now()}`;
    const first = await post(ctx('idempotent request'), { 'idempotency-key': key });
    expect(first.status).toBe(202);
    const second = await post(ctx('idempotent request'), { 'idempotency-key': key });
    expect(second.body.id).toBe(first.body.id);
    const other = await post(ctx('another body'), { 'idempotency-key': key });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('conflict');
    const fresh = await post(ctx('idempotent request'), { 'idempotency-key': `${key}-b` });
    expect(fresh.body.id).not.toBe(first.body.id);
  });

  it('refuses a key over 255 characters', async () => {
    const r = await post(ctx('x'), { 'idempotency-key': 'k'.repeat(256) });
    expect(r.status).toBe(400);
  });
});

describe('GET /v1/jobs and /v1/adapters paging', () => {
  it('pages newest first with an opaque cursor, no duplicates, and filters by status', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await post(ctx(`paging document number ${i}`), { prefer: 'wait=10' })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const page: any = await call(svc.url, 'GET', `/v1/jobs${q}`);
      expect(page.status).toBe(200);
      expect(page.body.object).toBe('list');
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((j: any) => j.id));
      cursor = page.body.next_cursor;
      expect(page.body.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    const positions = ids.map((id) => seen.indexOf(id));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => b - a)).toEqual(positions); // newest first
    const succeeded = await call(svc.url, 'GET', '/v1/jobs?status=succeeded&limit=100');
    expect(succeeded.body.data.every((j: any) => j.status === 'succeeded')).toBe(true);
    const canceled = await call(svc.url, 'GET', '/v1/jobs?status=canceled');
    expect(canceled.body.data.every((j: any) => j.status === 'canceled')).toBe(true);
  });

  it('lists adapters, filtered by model', async () => {
    const all = await call(svc.url, 'GET', '/v1/adapters?limit=100');
    expect(all.status).toBe(200);
    expect(all.body.data.length).toBeGreaterThan(3);
    expect(all.body.data[0].urls.self).toMatch(/^\/v1\/adapters\/ad_/);
    expect((await call(svc.url, 'GET', `/v1/adapters?model=${MODEL}&limit=100`)).body.data.length).toBe(all.body.data.length);
    expect((await call(svc.url, 'GET', '/v1/adapters?model=other')).body.data).toEqual([]);
    const p1 = await call(svc.url, 'GET', '/v1/adapters?limit=2');
    const p2 = await call(svc.url, 'GET', `/v1/adapters?limit=2&cursor=${p1.body.next_cursor}`);
    expect(p2.body.data[0].id).not.toBe(p1.body.data[0].id);
    expect(p2.body.data.map((a: any) => a.id)).toEqual(all.body.data.slice(2, 4).map((a: any) => a.id));
  });

  it.each(['?limit=0', '?limit=101', '?limit=x', '?cursor=%%%', '?cursor=bm9wZQ', '?status=done', '?bogus=1'])('refuses %s with 400', async (q) => {
    const r = await call(svc.url, 'GET', `/v1/jobs${q}`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });
});

describe('execution providers', () => {
  it('tries CUDA first with EXECUTION_PROVIDERS=cuda,cpu and falls back to the CPU when CUDA is absent', async () => {
    const gpu = await startTestService({ env: { EXECUTION_PROVIDERS: 'cuda,cpu' } });
    try {
      // On a host with the CUDA provider installed the session keeps ['cuda', 'cpu'].
      const used = gpu.worker!.pool.providers['fixture-text-tiny'];
      expect([['cpu'], ['cuda', 'cpu']]).toContainEqual(used);
      const r = await call(gpu.url, 'POST', '/v1/adapters', ctx('provider fallback'), { prefer: 'wait=10' });
      expect(r.body.status).toBe('succeeded');
    } finally {
      await gpu.close();
    }
  });
});
