/** Dynamic batching over the real inference pool (fixture generator) and through the service. */
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { Batcher } from '../../src/inference/batcher.js';
import type { InferencePool } from '../../src/inference/inference-pool.js';
import { openScratchPool, SCRATCH_TENANT, type ScratchPool } from '../../src/eval/scratch-pool.js';
import { createHash } from 'node:crypto';
import { createLogger } from '../../src/logging/logger.js';
import { ModelRegistry } from '../../src/models/model-registry.js';
import type { GenerateItem } from '../../src/inference/thread-protocol.js';
import { call, FIXTURE_MODELS_DIR, startTestService, waitForJob } from '../helpers/test-service.js';

const MODEL = 'fixture-text-tiny';

describe('Batcher over the inference pool', () => {
  let pool: InferencePool;
  let scratch: ScratchPool;
  let registry: ModelRegistry;
  beforeAll(async () => {
    registry = await ModelRegistry.load({ dirs: [FIXTURE_MODELS_DIR] });
    scratch = openScratchPool([registry.get(MODEL)!], createLogger('silent'));
    pool = scratch.pool;
    await pool.ready();
  });
  afterAll(async () => {
    await scratch?.close();
  });

  // Rows of one batch are different adapters: one id per text (the batched and the alone run of
  // the same text write the same id, read back right after each).
  const idOf = (text: string) => `ad_${createHash('sha1').update(text).digest('hex')}`;
  const item = (text: string): GenerateItem => ({
    tenant: SCRATCH_TENANT,
    adapterId: idOf(text),
    modelSha256: registry.get(MODEL)!.manifest.sha256,
    input: { context: text },
    options: { dtype: 'float32', format: 'peft' },
  });
  const tensors = (text: string) => readSafetensors(scratch.read(idOf(text), 'adapter_model.safetensors')).tensors;

  it('runs queued items in batches of at most maxBatch, each row identical to running it alone', async () => {
    // Batch sizes in the order they were dispatched (onBatch reports completions, whose order
    // can differ: a batch's writes overlap the next batch's forward pass).
    const sizes: number[] = [];
    const runner = { threads: pool.threads, generate: (m: string, items: GenerateItem[]) => (sizes.push(items.length), pool.generate(m, items)) };
    const batcher = new Batcher({ runner, maxBatch: () => 4, maxWaitMs: 20 });
    // Different lengths: rows are padded within a batch, and padding must not change any row.
    const texts = Array.from({ length: 10 }, (_, i) => `the city ${'blue '.repeat(i)}red`);
    const batched = await Promise.all(texts.map((t) => batcher.submit(MODEL, item(t))));
    // The first runs at once on the idle thread; the rest gather while it is busy.
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...sizes)).toBe(4);
    expect(sizes[0]).toBe(1);
    for (let i = 0; i < texts.length; i++) {
      const b = batched[i]!.result;
      if (!b.ok) throw new Error('generation failed');
      const tb = tensors(texts[i]!);
      const alone = (await pool.generate(MODEL, [item(texts[i]!)])).results[0]!;
      if (!alone.ok) throw new Error('generation failed');
      const ta = tensors(texts[i]!);
      for (const [k, t] of Object.entries(ta)) {
        const x = new Float32Array(t.data.slice().buffer);
        const y = new Float32Array(tb[k]!.data.slice().buffer);
        x.forEach((v, j) => expect(Math.abs(v - y[j]!)).toBeLessThan(1e-6));
      }
    }
    batcher.close();
  });

  it('runs an item at once when a thread is idle (no batching delay at low load)', async () => {
    // A one-minute wait bound: the test finishing at all shows nothing waited for it.
    const batcher = new Batcher({ runner: pool, maxBatch: () => 32, maxWaitMs: 60000 });
    const r = await batcher.submit(MODEL, item('alone'));
    expect(r.batchSize).toBe(1);
    expect(r.result.ok).toBe(true);
    batcher.close();
  });

  it('fails only the row whose input is bad; its batch-mates succeed', async () => {
    const batcher = new Batcher({ runner: pool, maxBatch: () => 8, maxWaitMs: 20 });
    // Dispatched at once to the idle thread; the next three gather behind it into one batch.
    const busy = batcher.submit(MODEL, item('keeps the thread busy'));
    const results = await Promise.all([
      batcher.submit(MODEL, item('the city')),
      batcher.submit(MODEL, item('the '.repeat(200))), // over the model's 64-token limit
      batcher.submit(MODEL, item('a red city')),
    ]);
    await busy;
    expect(results.map((r) => r.batchSize)).toEqual([3, 3, 3]);
    expect(results.map((r) => r.result.ok)).toEqual([true, false, true]);
    const bad = results[1]!.result;
    expect(!bad.ok && bad.error.code).toBe('payload_too_large');
    batcher.close();
  });
});

describe('batching in the service', () => {
  it('serves many distinct concurrent requests in shared forward passes', async () => {
    // The requests arrive while the worker starts (as after a deploy): whatever the machine's
    // load, they are all queued when it takes them, so the batches do not depend on timing.
    const svc = await startTestService({ env: { BATCH_MAX_SIZE: '8', BATCH_MAX_WAIT_MS: '20', WORKER_CONCURRENCY: '32' }, worker: false });
    const sizes: number[] = [];
    try {
      const replies = await Promise.all(Array.from({ length: 24 }, (_, i) => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `document number ${i} of the city` } })));
      (await svc.startWorker()).worker.on('completed', (_job, r: { batch_size?: number }) => sizes.push(r.batch_size ?? 0));
      const jobs = await Promise.all(replies.map((r) => waitForJob(svc.url, r.body.id)));
      expect(jobs.every((j) => j.status === 'succeeded')).toBe(true);
      expect(new Set(jobs.map((j) => j.adapter_id)).size).toBe(24);
      expect(sizes).toHaveLength(24);
      expect(Math.max(...sizes)).toBeGreaterThan(1);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
    } finally {
      await svc.close();
    }
  });
});
