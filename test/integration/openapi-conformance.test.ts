/** The committed spec is what the code generates, and real responses match it. */
import { readFileSync } from 'node:fs';
import { buildSpec } from '../../src/http/openapi/build-spec.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';
import { assertConforms, SPEC_FILE } from '../helpers/spec-validator.js';

const MODEL = 'fixture-text-tiny';
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

it('api-spec/openapi.json is exactly what the code generates (run `npm run spec` after changing schemas)', () => {
  expect(JSON.parse(readFileSync(SPEC_FILE, 'utf8'))).toEqual(JSON.parse(JSON.stringify(buildSpec())));
});

it('serves the spec at /openapi.json and Swagger UI at /docs', async () => {
  const r = await call(svc.url, 'GET', '/openapi.json');
  expect(r.status).toBe(200);
  expect(r.body.openapi).toBe('3.1.0');
  const docs = await fetch(`${svc.url}/docs/`);
  expect(docs.status).toBe(200);
  expect(await docs.text()).toMatch(/swagger-ui/i);
});

it('every response of a full walk-through matches the spec', async () => {
  const check = async (method: string, url: string, route: string, body?: unknown, headers?: Record<string, string>) => {
    const r = await call(svc.url, method, url, body, headers);
    assertConforms(method, route, r.status, r.body);
    return r;
  };
  await check('GET', '/healthz', '/healthz');
  await check('GET', '/readyz', '/readyz');
  await check('GET', '/v1/models', '/v1/models');
  await check('GET', `/v1/models/${MODEL}`, '/v1/models/{id}');
  await check('GET', '/v1/models/nope', '/v1/models/{id}');
  const created = await check('POST', '/v1/adapters', '/v1/adapters', { model: MODEL, input: { context: 'conformance check' }, metadata: { a: 'b' } });
  expect(created.status).toBe(202);
  const job = await waitForJob(svc.url, created.body.id);
  await check('GET', `/v1/jobs/${job.id}`, '/v1/jobs/{id}');
  await check('POST', '/v1/adapters', '/v1/adapters', { model: MODEL, input: { context: 'conformance check' } });
  await check('POST', '/v1/adapters', '/v1/adapters', { model: MODEL, input: { context: 5 } });
  await check('POST', '/v1/adapters', '/v1/adapters', { model: MODEL, input: { context: '' } });
  await check('POST', '/v1/adapters', '/v1/adapters', { model: MODEL, input: { context: 'the '.repeat(100) } });
  await check('POST', '/v1/adapters', '/v1/adapters', 'nope', { 'content-type': 'text/plain' });
  await check('POST', `/v1/jobs/${job.id}/cancel`, '/v1/jobs/{id}/cancel');
  await check('GET', '/v1/jobs?limit=2', '/v1/jobs');
  await check('GET', '/v1/jobs?limit=0', '/v1/jobs');
  await check('GET', '/v1/adapters', '/v1/adapters');
  await check('GET', `/v1/adapters/${job.adapter_id}`, '/v1/adapters/{id}');
  await check('GET', `/v1/adapters/${job.adapter_id}/files/nope`, '/v1/adapters/{id}/files/{name}');
  await check('GET', `/v1/jobs/${job.id}/deliveries`, '/v1/jobs/{id}/deliveries');
  await check('GET', '/v1/jobs/job_000000000000000000000000/deliveries', '/v1/jobs/{id}/deliveries');
  await check('GET', '/v1/jobs/job_000000000000000000000000/events', '/v1/jobs/{id}/events');
  await check('GET', '/v1/webhook-secret', '/v1/webhook-secret');
  await check('POST', '/v1/webhook-secret/rotate', '/v1/webhook-secret/rotate');
  await check('DELETE', `/v1/adapters/${job.adapter_id}`, '/v1/adapters/{id}');
  await check('GET', `/v1/adapters/${job.adapter_id}`, '/v1/adapters/{id}');
});
