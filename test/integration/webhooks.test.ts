/**
 * Webhooks end to end: real Redis, the real API and webhook worker, and a real receiver on
 * loopback that verifies every delivery with the `standardwebhooks` package. Most events are
 * triggered by cancelling a queued job (no inference needed); the last block runs the
 * generate worker for job.started/progress/succeeded/failed.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { freePort, sleep } from '../helpers/net.js';
import { assertWebhookConforms } from '../helpers/spec-validator.js';
import path from 'node:path';
import { jobClient, until } from '../helpers/job-client.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';



const receivers: WebhookReceiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.close();
});

describe('webhook deliveries', () => {
  let svc: TestService;
  let secret: string;
  const { post, cancel, logOf } = jobClient(() => svc);
  const receiver = async (port?: number) => {
    const r = await new WebhookReceiver().start(port);
    r.secrets = [secret];
    receivers.push(r);
    return r;
  };

  beforeAll(async () => {
    svc = await startTestService({
      worker: false,
      webhooks: true,
      env: { WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_SCALE: '0.001', WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_CLAIM_IDLE_MS: '200', JOB_ATTEMPTS: '1' },
    });
    const r = await call(svc.url, 'GET', '/v1/webhook-secret');
    expect(r.headers.get('cache-control')).toBe('no-store');
    secret = r.body.secret;
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('creates the tenant secret on first use: whsec_ + base64 of 32 random bytes, stable', async () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect((await call(svc.url, 'GET', '/v1/webhook-secret')).body.secret).toBe(secret);
  });

  it('delivers job.canceled signed per Standard Webhooks, with the Job as data, and logs the attempt', async () => {
    const rx = await receiver();
    const r = await post('deliver the cancel', { url: `${rx.url}/hook` });
    expect(r.status).toBe(202);
    await cancel(r.body.id);
    await rx.waitFor(() => rx.received.length === 1);
    const d = rx.received[0]!;
    expect(d.verifiedWith).toEqual([true]);
    expect(d.id).toMatch(/^msg_[0-9a-f]{24}_\d+$/);
    expect(d.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(d.timestamp) - Date.now() / 1000)).toBeLessThan(60);
    expect(d.contentType).toBe('application/json');
    expect(Buffer.byteLength(d.body)).toBeLessThanOrEqual(20 * 1024);
    expect(d.payload.type).toBe('job.canceled');
    assertWebhookConforms('job.canceled', d.payload);
    expect(Number.isNaN(Date.parse(d.payload.timestamp))).toBe(false);
    expect(d.payload.data).toEqual((await call(svc.url, 'GET', `/v1/jobs/${r.body.id}`)).body);
    const entries = await logOf(r.body.id, 1);
    expect(entries).toEqual([
      { id: expect.stringMatching(/^whd_[0-9a-f]{24}$/), event: 'job.canceled', webhook_id: d.id, url: `${rx.url}/hook`, attempt: 1, status_code: 200, error: null, at: expect.any(String), next_attempt_at: null },
    ]);
    await sleep(100);
    expect(rx.received).toHaveLength(1); // job.queued is not a webhook event
  });

  it('retries after 500 and 503, waits as long as Retry-After asks, with the same webhook-id on every attempt', async () => {
    const rx = await receiver();
    rx.plan('/retry', [{ status: 500 }, { status: 503, headers: { 'retry-after': '1' } }]);
    const r = await post('retry me', { url: `${rx.url}/retry` });
    await cancel(r.body.id);
    await rx.waitFor(() => rx.received.length === 3);
    expect(rx.received.map((x) => x.status)).toEqual([500, 503, 200]);
    expect(new Set(rx.received.map((x) => x.id)).size).toBe(1);
    expect(rx.received.every((x) => x.verifiedWith[0])).toBe(true);
    expect(new Set(rx.received.map((x) => x.body)).size).toBe(1); // the same bytes every time
    expect(rx.received[1]!.at - rx.received[0]!.at).toBeLessThan(900); // 5 s × 0.001
    expect(rx.received[2]!.at - rx.received[1]!.at).toBeGreaterThanOrEqual(950); // Retry-After: 1
    const entries = await logOf(r.body.id, 3);
    expect(entries.map((e) => [e.attempt, e.status_code, e.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 503, 'HTTP 503'],
      [3, 200, null],
    ]);
    expect(entries[0].next_attempt_at).not.toBeNull();
    expect(Date.parse(entries[1].next_attempt_at) - Date.parse(entries[1].at)).toBeGreaterThanOrEqual(1000);
    expect(entries[2].next_attempt_at).toBeNull();
    expect(new Set(entries.map((e) => e.webhook_id))).toEqual(new Set([rx.received[0]!.id]));
  });

  it('counts a receiver that hangs past the timeout as a failed attempt', async () => {
    const rx = await receiver();
    rx.plan('/slow', [{ hang: true }]);
    const r = await post('a slow receiver', { url: `${rx.url}/slow` });
    await cancel(r.body.id);
    await rx.waitFor(() => rx.received.length === 2);
    const entries = await logOf(r.body.id, 2);
    expect(entries.map((e) => [e.status_code, e.error])).toEqual([
      [null, 'no complete response within 1000 ms'],
      [200, null],
    ]);
  });

  it('retries a refused connection until the receiver is up', async () => {
    const port = await freePort();
    const r = await post('nobody listens yet', { url: `http://127.0.0.1:${port}/late` });
    await cancel(r.body.id);
    const first = await logOf(r.body.id, 1);
    expect(first[0]).toMatchObject({ attempt: 1, status_code: null, error: 'connection refused' });
    const rx = await receiver(port);
    await rx.waitFor(() => rx.received.length === 1);
    await until(async () => (await logOf(r.body.id, 1)).some((e) => e.status_code === 200));
    const entries = await logOf(r.body.id, 2);
    expect(entries.slice(0, -1).every((e) => e.error === 'connection refused')).toBe(true);
    expect(entries[entries.length - 1]).toMatchObject({ status_code: 200, error: null });
  });

  it('stops at 410 Gone: no retry, and no more deliveries to that URL for jobs created before it', async () => {
    const rx = await receiver();
    rx.plan('/gone', [{ status: 410 }]);
    const url = `${rx.url}/gone`;
    const a = await post('gone a', { url });
    const b = await post('gone b', { url });
    await cancel(a.body.id);
    const logA = await logOf(a.body.id, 1);
    expect(logA[0]).toMatchObject({ status_code: 410, error: expect.stringMatching(/410 Gone/), next_attempt_at: null });
    await cancel(b.body.id);
    const logB = await logOf(b.body.id, 1);
    expect(logB[0]).toMatchObject({ status_code: null, error: expect.stringMatching(/not sent.*410/), next_attempt_at: null });
    await sleep(200); // the schedule (×0.001) would have retried by now
    expect(rx.at('/gone')).toHaveLength(1);
    // A job created after the 410 names the URL afresh: a new subscription.
    const c = await post('gone c', { url });
    await cancel(c.body.id);
    await rx.waitFor(() => rx.at('/gone').length === 2);
    expect(rx.at('/gone')[1]!.payload.data.id).toBe(c.body.id);
  });

  it('signs with both the new and the previous secret for 24 h after a rotation', async () => {
    const old = secret;
    const rotated = await call(svc.url, 'POST', '/v1/webhook-secret/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const fresh: string = rotated.body.secret;
    expect(fresh).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(fresh).not.toBe(old);
    expect((await call(svc.url, 'GET', '/v1/webhook-secret')).body.secret).toBe(fresh);
    secret = fresh;
    const rx = await receiver();
    rx.secrets = [fresh, old];
    const r = await post('after a rotation', { url: `${rx.url}/rotated` });
    await cancel(r.body.id);
    await rx.waitFor(() => rx.received.length === 1);
    const d = rx.received[0]!;
    expect(d.signature.split(' ')).toHaveLength(2);
    expect(d.signature.split(' ').every((s) => s.startsWith('v1,'))).toBe(true);
    expect(d.verifiedWith).toEqual([true, true]); // each secret alone verifies it
  });

  it('answers 404 for the deliveries of an unknown job, and an empty list for a job without a webhook', async () => {
    const unknown = await call(svc.url, 'GET', '/v1/jobs/job_000000000000000000000000/deliveries');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const r = await post('no webhook here', undefined);
    expect((await call(svc.url, 'GET', `/v1/jobs/${r.body.id}/deliveries`)).body).toEqual({ object: 'list', data: [] });
    await cancel(r.body.id);
  });

  it('loses no delivery across a webhook worker restart, and delivers it once per webhook-id', async () => {
    await svc.webhooks!.close();
    const rx = await receiver();
    rx.plan('/restart', [{ status: 503, headers: { 'retry-after': '2' } }]);
    const r = await post('survive a restart', { url: `${rx.url}/restart` });
    await cancel(r.body.id);
    await sleep(150);
    expect(rx.received).toHaveLength(0); // nobody runs the outbox now; the event waits there
    expect(await svc.redis.xlen(`${svc.config.queuePrefix}:webhook-outbox`)).toBe(1);
    const first = await svc.startWebhooks();
    await rx.waitFor(() => rx.received.length === 1);
    await logOf(r.body.id, 1);
    await first.close(); // the retry now waits in the queue, 2 s away, with no worker
    await svc.startWebhooks();
    await rx.waitFor(() => rx.received.length === 2);
    expect(rx.received.map((x) => x.status)).toEqual([503, 200]);
    expect(new Set(rx.received.map((x) => x.id)).size).toBe(1);
    expect((await logOf(r.body.id, 2)).map((e) => e.attempt)).toEqual([1, 2]);
    await sleep(200);
    expect(rx.received.filter((x) => x.status === 200)).toHaveLength(1);
  });

  it('takes over outbox entries that a dead dispatcher read but never enqueued', async () => {
    await svc.webhooks!.close();
    const rx = await receiver();
    const r = await post('orphaned by a crash', { url: `${rx.url}/orphan` });
    await cancel(r.body.id);
    const stream = `${svc.config.queuePrefix}:webhook-outbox`;
    // Play a dispatcher that reads the entry and dies before enqueueing it.
    const read = (await svc.redis.xreadgroup('GROUP', 'dispatchers', 'dead-dispatcher', 'COUNT', 10, 'STREAMS', stream, '>')) as [string, unknown[]][];
    expect(read[0]![1]).toHaveLength(1);
    expect(((await svc.redis.xpending(stream, 'dispatchers')) as unknown[])[0]).toBe(1);
    await svc.startWebhooks();
    await rx.waitFor(() => rx.received.length === 1);
    expect(rx.received[0]!.payload.data.id).toBe(r.body.id);
    await until(async () => ((await svc.redis.xpending(stream, 'dispatchers')) as unknown[])[0] === 0);
    await sleep(300);
    expect(rx.received).toHaveLength(1);
  });

  describe('with the generate worker', () => {
    beforeAll(async () => {
      await svc.startWorker();
    });

    it('delivers job.succeeded by default, and job.started to a subscription that asks', async () => {
      const rx = await receiver();
      const a = await post('generate and tell me', { url: `${rx.url}/done` });
      const b = await post('tell me everything', { url: `${rx.url}/all`, events: ['job.started', 'job.progress', 'job.succeeded'] });
      await rx.waitFor(() => rx.at('/done').length === 1 && rx.at('/all').length === 2);
      const done = rx.at('/done')[0]!;
      expect(done.verifiedWith).toEqual([true]);
      expect(done.payload.type).toBe('job.succeeded');
      const job = await waitForJob(svc.url, a.body.id);
      expect(done.payload.data).toEqual(job);
      expect(done.payload.data.urls.adapter).toBe(`/v1/adapters/${job.adapter_id}`);
      const all = rx.at('/all');
      // job.progress is subscribable, but a one-pass generator never emits it.
      expect(new Set(all.map((x) => x.payload.type))).toEqual(new Set(['job.started', 'job.succeeded']));
      expect(new Set(all.map((x) => x.id)).size).toBe(2);
      expect(all.every((x) => x.verifiedWith[0] && x.payload.data.id === b.body.id)).toBe(true);
      expect(all.find((x) => x.payload.type === 'job.started')!.payload.data.status).toBe('running');
      for (const x of [done, ...all]) assertWebhookConforms(x.payload.type, x.payload); // the documented body
    });

    it('delivers job.failed with the error', async () => {
      const rx = await receiver();
      mkdirSync(svc.config.dataDir, { recursive: true });
      const blocker = path.join(svc.config.dataDir, 'tenants');
      const aside = `${blocker}.aside`;
      if (existsSync(blocker)) renameSync(blocker, aside); // earlier jobs' adapters, kept for later
      writeFileSync(blocker, 'not a directory'); // every adapter write fails
      try {
        const r = await post('this one fails', { url: `${rx.url}/failed` });
        await rx.waitFor(() => rx.received.length === 1);
        const d = rx.received[0]!;
        expect(d.payload).toMatchObject({ type: 'job.failed', data: { id: r.body.id, status: 'failed', error: { code: 'generation_failed' } } });
        expect(d.verifiedWith).toEqual([true]);
      } finally {
        rmSync(blocker);
        if (existsSync(aside)) renameSync(aside, blocker);
      }
    });
  });
});
