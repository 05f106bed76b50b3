/** Cancellation, retries with backoff, and unrecoverable payloads, against real Redis/BullMQ. */
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { until } from '../helpers/net.js';
import path from 'node:path';
import { Queue } from 'bullmq';
import { GENERATE_QUEUE } from '../../src/jobs/queue-names.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';

const MODEL = 'fixture-text-tiny';
const ctx = (text: string) => ({ model: MODEL, input: { context: text } });


describe('cancel', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ worker: false });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('cancels a queued job; a second cancel is 409; the worker then skips the computation', async () => {
    const r = await call(svc.url, 'POST', '/v1/adapters', ctx('cancel me'));
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('queued');
    const canceled = await call(svc.url, 'POST', `/v1/jobs/${r.body.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ id: r.body.id, status: 'canceled', adapter_id: null });
    expect(canceled.body.finished_at).not.toBeNull();
    const again = await call(svc.url, 'POST', `/v1/jobs/${r.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');

    // A job sharing a computation with a canceled one still gets its adapter.
    const a = await call(svc.url, 'POST', '/v1/adapters', ctx('shared computation'));
    const b = await call(svc.url, 'POST', '/v1/adapters', ctx('shared computation'));
    await call(svc.url, 'POST', `/v1/jobs/${a.body.id}/cancel`);

    const worker = await svc.startWorker();
    const jobB = await waitForJob(svc.url, b.body.id);
    expect(jobB.status).toBe('succeeded');
    expect((await call(svc.url, 'GET', `/v1/jobs/${a.body.id}`)).body.status).toBe('canceled');
    const queue = new Queue(GENERATE_QUEUE, { connection: svc.redis, prefix: svc.config.queuePrefix });
    await until(async () => worker.worker.isRunning() && (await queue.getWaitingCount()) + (await queue.getActiveCount()) === 0);
    await queue.close();
    expect((await call(svc.url, 'GET', `/v1/jobs/${r.body.id}`)).body.status).toBe('canceled');
    expect(svc.completed()).toBe(1); // only the shared computation ran
  });

  it('answers 404 for unknown and malformed job ids', async () => {
    for (const id of ['job_000000000000000000000000', 'nope', 'job_' + 'x'.repeat(300), '%2e%2e']) {
      expect((await call(svc.url, 'POST', `/v1/jobs/${id}/cancel`)).status).toBe(404);
      expect((await call(svc.url, 'GET', `/v1/jobs/${id}`)).status).toBe(404);
    }
  });
});

describe('retries', () => {
  it('retries a transient failure with backoff and succeeds once the fault clears', async () => {
    const svc = await startTestService({ env: { JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '400' } });
    const queue = new Queue(GENERATE_QUEUE, { connection: svc.redis, prefix: svc.config.queuePrefix });
    try {
      // Block the store's tenants directory with a file: every write fails until it is removed.
      mkdirSync(svc.config.dataDir, { recursive: true });
      const blocker = path.join(svc.config.dataDir, 'tenants');
      writeFileSync(blocker, 'not a directory');
      const r = await call(svc.url, 'POST', '/v1/adapters', ctx('transient disk fault'));
      await until(async () => {
        const jobs = await queue.getJobs(['delayed', 'waiting', 'active']);
        return jobs.some((j) => j.attemptsMade >= 1);
      });
      expect((await call(svc.url, 'GET', `/v1/jobs/${r.body.id}`)).body.status).toBe('running');
      rmSync(blocker);
      const job = await waitForJob(svc.url, r.body.id);
      expect(job.status).toBe('succeeded');
      expect((await call(svc.url, 'GET', `/v1/adapters/${job.adapter_id}`)).status).toBe(200);
    } finally {
      await queue.close();
      await svc.close();
    }
  });

  it('fails the job with a clear error after the last attempt, leaving nothing half-written', async () => {
    const svc = await startTestService({ env: { JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '10' } });
    const queue = new Queue(GENERATE_QUEUE, { connection: svc.redis, prefix: svc.config.queuePrefix });
    try {
      mkdirSync(svc.config.dataDir, { recursive: true });
      writeFileSync(path.join(svc.config.dataDir, 'tenants'), 'not a directory');
      const r = await call(svc.url, 'POST', '/v1/adapters', ctx('permanent disk fault'));
      const job = await waitForJob(svc.url, r.body.id);
      expect(job.status).toBe('failed');
      expect(job.error.code).toBe('generation_failed');
      expect(job.error.message).toMatch(/after 2 attempts/);
      const failed = await queue.getFailed();
      expect(failed[0]!.attemptsMade).toBe(2);
      expect((await call(svc.url, 'GET', '/v1/adapters')).body.data).toEqual([]);
    } finally {
      await queue.close();
      await svc.close();
    }
  });

  it('fails a malformed payload at once, without retrying (UnrecoverableError)', async () => {
    const svc = await startTestService({ env: { JOB_ATTEMPTS: '5' } });
    const queue = new Queue(GENERATE_QUEUE, { connection: svc.redis, prefix: svc.config.queuePrefix });
    try {
      const job = await queue.add('generate', { v: 1, tenant: 'local', model: 42 }, { attempts: 5, backoff: { type: 'exponential', delay: 10 } });
      await until(async () => (await queue.getJob(job.id!))?.finishedOn !== undefined);
      const done = (await queue.getJob(job.id!))!;
      expect(done.attemptsMade).toBe(1);
      expect(done.failedReason).toMatch(/invalid generate payload/);
    } finally {
      await queue.close();
      await svc.close();
    }
  });
});
