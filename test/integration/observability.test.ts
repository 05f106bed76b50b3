/** /metrics (Prometheus), request ids in logs and responses, and the admin queue UI. */
import { call, startTestService, type TestService } from '../helpers/test-service.js';

const MODEL = 'fixture-text-tiny';
const ADMIN_KEY = 'admin-key-for-tests-0123456789';
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { ADMIN_KEY } });
});
afterAll(async () => {
  await svc?.close();
});

it('exposes HTTP latency by route, generation and batch histograms, cache results and queue depth', async () => {
  const body = { model: MODEL, input: { context: 'metrics please' } };
  await call(svc.url, 'POST', '/v1/adapters', body, { prefer: 'wait=10' });
  await call(svc.url, 'POST', '/v1/adapters', body);
  await call(svc.url, 'GET', '/v1/jobs/job_000000000000000000000000');
  const res = await fetch(`${svc.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/plain/);
  const text = await res.text();
  expect(text).toMatch(/hyperadapt_http_request_duration_seconds_count\{method="POST",route="\/v1\/adapters",status="200"\} 2/);
  expect(text).toMatch(/hyperadapt_http_request_duration_seconds_count\{method="GET",route="\/v1\/jobs\/:id",status="404"\} 1/);
  expect(text).toMatch(/hyperadapt_generation_seconds_count\{model="fixture-text-tiny"\} 1/);
  expect(text).toMatch(/hyperadapt_batch_size_count\{model="fixture-text-tiny"\} 1/);
  expect(text).toMatch(/hyperadapt_jobs_finished_total\{model="fixture-text-tiny",status="succeeded"\} 1/);
  expect(text).toMatch(/hyperadapt_cache_requests_total\{model="fixture-text-tiny",result="hit"\} 1/);
  expect(text).toMatch(/hyperadapt_cache_requests_total\{model="fixture-text-tiny",result="miss"\} 1/);
  expect(text).toMatch(/hyperadapt_queue_jobs\{queue="generate",state="waiting"\} 0/);
  expect(text).toMatch(/hyperadapt_queue_wait_seconds_count\{model="fixture-text-tiny"\} 1/);
});

it('answers every request with a request id, echoing a sane client one', async () => {
  const mine = await fetch(`${svc.url}/v1/models`, { headers: { 'x-request-id': 'client-id-123' } });
  expect(mine.headers.get('x-request-id')).toBe('client-id-123');
  const bogus = await fetch(`${svc.url}/v1/models`, { headers: { 'x-request-id': 'x'.repeat(500) } });
  expect(bogus.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
});

it('guards the queue admin UI with the admin key', async () => {
  expect((await fetch(`${svc.url}/admin/queues`)).status).toBe(401);
  expect((await fetch(`${svc.url}/admin/queues`, { headers: { authorization: 'Bearer wrong-key-wrong-key' } })).status).toBe(401);
  const ok = await fetch(`${svc.url}/admin/queues`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  expect(ok.status).toBe(200);
  expect(await ok.text()).toMatch(/<html/i);
  const basic = await fetch(`${svc.url}/admin/queues/api/queues`, { headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString('base64')}` } });
  expect(basic.status).toBe(200);
  expect(JSON.stringify(await basic.json())).toMatch(/generate/);
});

it('has no admin UI without ADMIN_KEY', async () => {
  const plain = await startTestService({ worker: false });
  try {
    expect((await fetch(`${plain.url}/admin/queues`)).status).toBe(404);
  } finally {
    await plain.close();
  }
});
