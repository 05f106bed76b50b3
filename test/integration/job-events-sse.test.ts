/** GET /v1/jobs/{id}/events: Server-Sent Events from queued to succeeded, late clients, heartbeats. */
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { SseClient } from '../helpers/sse-client.js';

const MODEL = 'fixture-text-tiny';
const ctx = (text: string) => ({ model: MODEL, input: { context: text } });
let svc: TestService;
const open: SseClient[] = [];
const stream = async (jobId: string) => {
  const c = await SseClient.open(`${svc.url}/v1/jobs/${jobId}/events`);
  open.push(c);
  return c;
};

beforeAll(async () => {
  // No worker yet: jobs stay queued until a test starts one.
  svc = await startTestService({ worker: false, env: { EVENTS_HEARTBEAT_MS: '40' } });
});
afterAll(async () => {
  for (const c of open) c.close();
  await svc?.close();
});

describe('job event stream', () => {
  it('answers 404 JSON for an unknown or malformed job id', async () => {
    for (const id of ['job_000000000000000000000000', 'nope']) {
      const r = await call(svc.url, 'GET', `/v1/jobs/${id}/events`);
      expect(r.status).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      expect(r.body.error.code).toBe('not_found');
    }
  });

  it('sends heartbeat comments while a job waits, and ends with job.canceled', async () => {
    const job = (await call(svc.url, 'POST', '/v1/adapters', ctx('waiting for a worker that never comes'))).body;
    const sse = await stream(job.id);
    expect(sse.response.status).toBe(200);
    expect(sse.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(sse.response.headers.get('cache-control')).toBe('no-cache, no-transform');
    await sse.waitFor(() => sse.comments >= 3);
    expect(sse.events.map((e) => e.type)).toEqual(['job.queued']);
    await call(svc.url, 'POST', `/v1/jobs/${job.id}/cancel`);
    await sse.ended;
    expect(sse.events.map((e) => e.type)).toEqual(['job.queued', 'job.canceled']);
    expect(sse.events[1]!.data).toMatchObject({ id: job.id, object: 'job', status: 'canceled' });
  });

  it('streams job.queued, job.started and job.succeeded in order, each with the Job, then ends', async () => {
    const job = (await call(svc.url, 'POST', '/v1/adapters', ctx('watch me being generated'))).body;
    const sse = await stream(job.id);
    await sse.waitFor(() => sse.events.length === 1);
    expect(sse.events[0]).toMatchObject({ type: 'job.queued', data: { id: job.id, status: 'queued', progress: 0 } });
    await svc.startWorker();
    await sse.ended;
    // One forward pass has no intermediate progress to report: no job.progress from these generators.
    expect(sse.events.map((e) => e.type)).toEqual(['job.queued', 'job.started', 'job.succeeded']);
    expect(sse.events.map((e) => e.data.status)).toEqual(['queued', 'running', 'succeeded']);
    const done = sse.events[2]!.data;
    expect(done).toMatchObject({ id: job.id, status: 'succeeded', progress: 1 });
    expect(done.adapter_id).toMatch(/^ad_[0-9a-f]{40}$/);
    expect(done.urls.adapter).toBe(`/v1/adapters/${done.adapter_id}`);
    const ids = sse.events.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives a late client the current state first, then ends the stream after a terminal state', async () => {
    const r = await call(svc.url, 'POST', '/v1/adapters', ctx('finished before anyone listens'), { prefer: 'wait=10' });
    expect(r.body.status).toBe('succeeded');
    const sse = await stream(r.body.id);
    await sse.ended;
    expect(sse.events.map((e) => e.type)).toEqual(['job.succeeded']);
    expect(sse.events[0]!.data).toEqual((await call(svc.url, 'GET', `/v1/jobs/${r.body.id}`)).body);
    // A cache hit is a job too: it is born succeeded.
    const hit = await call(svc.url, 'POST', '/v1/adapters', ctx('finished before anyone listens'));
    expect(hit.body.cached).toBe(true);
    const cached = await stream(hit.body.id);
    await cached.ended;
    expect(cached.events.map((e) => [e.type, e.data.cached])).toEqual([['job.succeeded', true]]);
  });

  it('fans one subscription out to many clients of the same job', async () => {
    const job = (await call(svc.url, 'POST', '/v1/adapters', ctx('many watchers, one job'))).body;
    const clients = await Promise.all(Array.from({ length: 5 }, () => stream(job.id)));
    await Promise.all(clients.map((c) => c.ended));
    await waitForJob(svc.url, job.id);
    for (const c of clients) expect(c.events[c.events.length - 1]!.type).toBe('job.succeeded');
  });
});
