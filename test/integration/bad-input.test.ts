/** Bad input answers the documented 4xx with a clear message, and the server stays healthy. */
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';

const MODEL = 'fixture-text-tiny';
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { MAX_BODY_BYTES: '65536' } });
});
afterAll(async () => {
  await svc?.close();
});

const cases: [string, () => Promise<{ status: number; body: any }>, number, string, RegExp?][] = [
  ['invalid JSON', () => call(svc.url, 'POST', '/v1/adapters', '{"model": '), 400, 'invalid_request', /not valid JSON/],
  ['a JSON array', () => call(svc.url, 'POST', '/v1/adapters', '[]'), 400, 'invalid_request'],
  ['a bare JSON string', () => call(svc.url, 'POST', '/v1/adapters', '"x"'), 400, 'invalid_request'],
  ['no content type', () => call(svc.url, 'POST', '/v1/adapters', '{}', { 'content-type': '' }), 415, 'unsupported_media_type'],
  ['text/plain', () => call(svc.url, 'POST', '/v1/adapters', '{}', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
  ['a Latin-1 charset', () => call(svc.url, 'POST', '/v1/adapters', '{}', { 'content-type': 'application/json; charset=latin1' }), 415, 'unsupported_media_type'],
  ['a wrong type for model', () => call(svc.url, 'POST', '/v1/adapters', { model: 5, input: { context: 'x' } }), 400, 'invalid_request'],
  ['a wrong type for input', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: 'x' }), 400, 'invalid_request'],
  ['a number as context', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 5 } }), 400, 'invalid_request'],
  ['an unknown top-level field', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'x' }, colour: 1 }), 400, 'invalid_request'],
  ['an unknown dtype', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'x' }, options: { dtype: 'int8' } }), 400, 'invalid_request'],
  ['a format the model does not write', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'x' }, options: { format: 'kohya' } }), 400, 'invalid_request', /writes peft/],
  ['too many metadata keys', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'x' }, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }), 400, 'invalid_request'],
  ['an unknown model', () => call(svc.url, 'POST', '/v1/adapters', { model: 'no-such-model', input: { context: 'x' } }), 404, 'not_found', /no-such-model/],
  ['a missing context', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: {} }), 400, 'invalid_request'],
  ['an unknown input field', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'x', question: 'y' } }), 400, 'invalid_request', /input/],
  ['an empty context', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: '' } }), 422, 'unprocessable_input', /empty/],
  ['a whitespace context', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: ' \n\t ' } }), 422, 'unprocessable_input'],
  ['a context over its token limit', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'the '.repeat(65) } }), 413, 'payload_too_large', /65 tokens; the limit is 64 tokens/],
  ['a context over its character bound', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'x'.repeat(2000) } }), 413, 'payload_too_large', /limit/],
  ['a body over MAX_BODY_BYTES', () => call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'x'.repeat(70000) } }), 413, 'payload_too_large', /65536 bytes/],
  ['an unknown adapter', () => call(svc.url, 'GET', `/v1/adapters/ad_${'0'.repeat(40)}`), 404, 'not_found'],
  ['a malformed adapter id', () => call(svc.url, 'GET', '/v1/adapters/../../etc/passwd'), 404, 'not_found'],
  ['an encoded traversal in a file name', () => call(svc.url, 'GET', `/v1/adapters/ad_${'0'.repeat(40)}/files/..%2F..%2Fetc%2Fpasswd`), 404, 'not_found'],
  ['a malformed percent-encoding', () => call(svc.url, 'GET', '/v1/jobs/%E0%A4%A'), 400, 'invalid_request'],
  ['an unknown model id', () => call(svc.url, 'GET', '/v1/models/nope'), 404, 'not_found'],
  ['an unknown endpoint', () => call(svc.url, 'GET', '/v1/nothing'), 404, 'not_found'],
];

describe('bad input', () => {
  // One rest parameter: jest would take a fifth declared parameter for a `done` callback.
  it.each(cases)('%s', async (...row) => {
    const [, send, status, code, message] = row;
    const r = await send();
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
    if (message) expect(r.body.error.message).toMatch(message);
    expect(JSON.stringify(r.body)).not.toMatch(/\n\s+at /);
  });

  it('reports schema violations with zod issue paths', async () => {
    const r = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 5 } });
    expect(r.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: ['input', 'context'] })]));
  });

  it('answers a file name the adapter lacks with 404, and stays healthy after all of it', async () => {
    const ok = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'still healthy' } }, { prefer: 'wait=10' });
    expect(ok.status).toBe(200);
    const missing = await call(svc.url, 'GET', `/v1/adapters/${ok.body.adapter_id}/files/other.bin`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/no file named "other.bin"/);
    expect((await call(svc.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(svc.url, 'GET', '/readyz')).status).toBe(200);
    const job = await waitForJob(svc.url, ok.body.id);
    expect(job.status).toBe('succeeded');
  });
});

describe('readiness', () => {
  it('turns /readyz to 503 with Retry-After once shutdown begins, while /healthz stays 200', async () => {
    const other = await startTestService({ worker: false });
    try {
      expect((await call(other.url, 'GET', '/readyz')).status).toBe(200);
      other.api.stopAccepting();
      const r = await call(other.url, 'GET', '/readyz');
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('2');
      expect(r.body.error.code).toBe('unavailable');
      expect((await call(other.url, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
