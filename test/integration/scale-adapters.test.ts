/**
 * Real-size adapters: the 7B-shaped fixture generator (Mistral-7B's LoRA shapes, 42 MB as
 * float16) through the service — files PEFT loads, float16 the exact rounding of float32;
 * and backpressure that holds a worker process's adapter bytes to its budget while every job of
 * a burst succeeds. (The SIGKILL-mid-write case is in the fault suite, faults.test.ts.)
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SCALE_FIXTURE_ID } from '../fixtures/build-fixture-scale-model.js';
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { float32ToFloat16Bits } from '../../src/adapters/dtype.js';
import { jobBytes } from '../../workers/generate/generate-worker.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { expectPeftAdapter } from '../helpers/peft-checks.js';
import { freePort, until } from '../helpers/net.js';
import { cleanScaleEnv, postScale as post, SCALE_ENV as env, spawnWorker } from '../helpers/scale-service.js';

async function bytesOf(url: string): Promise<Buffer> {
  return Buffer.from(await (await fetch(url)).arrayBuffer());
}

describe('a 7B-shaped generator through the service', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('writes float16 and float32 adapters PEFT loads; float16 is float32 rounded to nearest even', async () => {
    const f16 = await post(svc, 'a long document about the city', 'float16');
    const f32 = await post(svc, 'a long document about the city', 'float32');
    expect([f16.body.status, f32.body.status]).toEqual(['succeeded', 'succeeded']);
    const manifest = svc.registry.get(SCALE_FIXTURE_ID)!.manifest;
    const tensors: Record<string, ReturnType<typeof readSafetensors>> = {};
    for (const [dtype, job] of [['float16', f16], ['float32', f32]] as const) {
      const rec = (await call(svc.url, 'GET', `/v1/adapters/${job.body.adapter_id}`)).body;
      const file = rec.files.find((f: { name: string }) => f.name === 'adapter_model.safetensors');
      const bytes = await bytesOf(`${svc.url}${rec.urls.files['adapter_model.safetensors']}`);
      // 21M parameters: 42 MB as float16, 84 MB as float32, plus the header.
      expect(bytes.length).toBeGreaterThan(20_971_520 * (dtype === 'float16' ? 2 : 4));
      expect({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }).toEqual({ bytes: file.bytes, sha256: file.sha256 });
      const config = (await call(svc.url, 'GET', `/v1/adapters/${rec.id}/files/adapter_config.json`)).body;
      expectPeftAdapter(manifest, config, bytes, dtype);
      expect(config.base_model_name_or_path).toBe('mistralai/Mistral-7B-v0.1');
      tensors[dtype] = readSafetensors(bytes);
    }
    for (const key of ['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', 'base_model.model.model.layers.31.mlp.down_proj.lora_B.weight']) {
      const a = tensors.float32!.tensors[key]!.data;
      const h = tensors.float16!.tensors[key]!.data;
      const f32 = new Float32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
      const half = new Uint16Array(h.buffer.slice(h.byteOffset, h.byteOffset + h.byteLength));
      let differ = 0;
      for (let i = 0; i < f32.length; i++) if (float32ToFloat16Bits(f32[i]!) !== half[i]) differ++;
      expect(differ).toBe(0);
    }
  }, 120000);
});

function vmhwm(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

describe('backpressure', () => {
  it('holds a burst of large jobs to the byte budget (read from the worker process), and every job succeeds', async () => {
    const budget = 150 * 1024 * 1024; // one float16 7B-shaped job (126 MB) at a time
    const clean = cleanScaleEnv({ ADAPTER_BYTES_IN_FLIGHT: String(budget), BATCH_MAX_WAIT_MS: '50' });
    const svc = await startTestService({ env: clean, worker: false });
    const metricsPort = await freePort();
    const worker = spawnWorker(svc, clean, { METRICS_PORT: String(metricsPort) });
    try {
      const manifest = svc.registry.get(SCALE_FIXTURE_ID)!.manifest;
      expect(jobBytes(manifest, 'float16')).toBeLessThan(budget);
      expect(2 * jobBytes(manifest, 'float16')).toBeGreaterThan(budget);
      const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => ''));
      await until(async () => (await metrics()).includes('hyperadapt_adapter_bytes_in_flight'), 30000, 'the worker');
      const baseline = vmhwm(worker.pid!);
      const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => post(svc, `burst document ${i}`, 'float16', 'wait=1')));
      const jobs = await Promise.all(replies.map((r) => waitForJob(svc.url, r.body.id, 120000)));
      expect(jobs.map((j) => j.status)).toEqual(Array(8).fill('succeeded'));
      const text = await metrics();
      const peak = Number(/hyperadapt_adapter_bytes_in_flight\{stat="peak"\} (\d+)/.exec(text)![1]);
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(budget);
      // Eight jobs at once would hold 8 × 126 MB; the process grew by a few budgets at most
      // (in-flight bytes, the reuse cache, garbage not yet collected).
      expect(vmhwm(worker.pid!) - baseline).toBeLessThan(3 * budget);
    } finally {
      worker.kill('SIGKILL');
      await svc.close();
    }
  }, 180000);
});

describe('a 7B-sized download against eviction', () => {
  it('completes whole: eviction passes the adapter by while it streams, and takes it once the download ends', async () => {
    const fileBytes = 41943040; // the float16 weights of one 7B-shaped adapter
    const svc = await startTestService({ env: { ...env, GC_INTERVAL_SECONDS: '0', TENANT_STORAGE_QUOTA_BYTES: String(Math.floor(1.5 * fileBytes)) } });
    try {
      const a = await post(svc, 'download lease A');
      expect(a.body.status).toBe('succeeded');
      const rec = (await call(svc.url, 'GET', `/v1/adapters/${a.body.adapter_id}`)).body;
      const weights = rec.files.find((f: { name: string }) => f.name === 'adapter_model.safetensors');
      const res = await fetch(`${svc.url}/v1/adapters/${rec.id}/files/adapter_model.safetensors`);
      const reader = res.body!.getReader();
      const hash = createHash('sha256');
      let got = 0;
      const first = await reader.read();
      hash.update(first.value!);
      got += first.value!.byteLength;
      // While the download is paused mid-file, a second adapter needs A's room: A is leased.
      const b = await post(svc, 'download lease B');
      expect(b.body).toMatchObject({ status: 'failed', error: { code: 'insufficient_storage' } });
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        got += value.byteLength;
      }
      expect({ got, sha256: hash.digest('hex') }).toEqual({ got: weights.bytes, sha256: weights.sha256 });
      // The download has ended; its lease is released (the response's close), so A can go now.
      await until(async () => (await svc.redis.hget(`${svc.config.queuePrefix}:t:local:adapter:${rec.id}`, 'lease_n')) === null, 5000, 'the lease to be released');
      expect((await post(svc, 'download lease B')).body.status).toBe('succeeded');
      expect((await call(svc.url, 'GET', `/v1/adapters/${rec.id}`)).status).toBe(410);
    } finally {
      await svc.close();
    }
  }, 120000);
});
