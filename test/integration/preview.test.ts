/**
 * POST /v1/adapters/{id}/generate: an adapter tried through its model's base, answering exactly
 * what the evaluation measures (the same `answer()`), with tenant isolation, 422s, and bounds
 * that refuse (429/503) instead of hanging.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EvalItem } from '../../src/eval/evaluate-model.js';
import { call, FIXTURE_MODELS_DIR, REPO_ROOT, SHIPPED_MODELS_DIR, startTestService, type TestService } from '../helpers/test-service.js';

const MODEL = 'generative-adapter-tiny';
const A = { authorization: 'Bearer preview-key-alpha-0123456789' };
const B = { authorization: 'Bearer preview-key-beta-0123456789' };
const items = (JSON.parse(readFileSync(path.join(SHIPPED_MODELS_DIR, MODEL, 'eval-sample.json'), 'utf8')) as { items: EvalItem[] }).items.slice(0, 6);
const services: TestService[] = [];
const start = async (env: Record<string, string> = {}) => {
  const svc = await startTestService({ env: { MODELS_DIR: SHIPPED_MODELS_DIR, EXTRA_MODELS_DIRS: FIXTURE_MODELS_DIR, GC_INTERVAL_SECONDS: '0', API_KEYS: 'alpha:preview-key-alpha-0123456789,beta:preview-key-beta-0123456789', ...env } });
  services.push(svc);
  return svc;
};
afterAll(async () => {
  for (const s of services) await s.close();
});

async function adapterFor(svc: TestService, context: string): Promise<string> {
  const r = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context } }, { ...A, prefer: 'wait=30' });
  if (r.body.status !== 'succeeded') throw new Error(JSON.stringify(r.body));
  return r.body.adapter_id;
}

describe('previews', () => {
  it("answers a question with the adapter exactly as the evaluation does, beside the base model's answer", async () => {
    const svc = await start();
    expect((await call(svc.url, 'GET', `/v1/models/${MODEL}`, undefined, A)).body.preview).toBe('generate');
    expect((await call(svc.url, 'GET', '/v1/models/hyper-personalize-tiny', undefined, A)).body.preview).toBe('samples');
    expect((await call(svc.url, 'GET', '/v1/models/fixture-text-tiny', undefined, A)).body.preview).toBeNull();
    // The evaluation runs as its own process, exactly as `npm run eval` does.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-eval-'));
    writeFileSync(path.join(dir, 'sample.json'), JSON.stringify({ items }));
    const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/src/eval/cli.js'), '--model', MODEL, '--sample', path.join(dir, 'sample.json'), '--json', path.join(dir, 'out.json'), '--predictions'], { env: { PATH: process.env.PATH, MODELS_DIR: SHIPPED_MODELS_DIR, LOG_LEVEL: 'silent' }, encoding: 'utf8' });
    expect(run.status).toBe(0);
    const evaluation = JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8')) as { rows: { name: string; predictions: string[] }[] };
    const withAdapter = evaluation.rows.find((r) => r.name === 'base + generated adapter (closed-book)')!.predictions;
    const closedBook = evaluation.rows.find((r) => r.name === 'base, closed-book')!.predictions;
    let differs = 0;
    for (const [i, it] of items.entries()) {
      const id = await adapterFor(svc, it.context);
      const r = await call(svc.url, 'POST', `/v1/adapters/${id}/generate`, { question: it.question, compare_base: true }, A);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ object: 'preview', adapter_id: id, model: MODEL, output: withAdapter[i], base_output: closedBook[i] });
      expect(r.body.prompt).toContain(it.question);
      if (r.body.output !== r.body.base_output) differs++;
    }
    // The adapter changes what the model says (it answers from the document it was made from).
    expect(differs).toBeGreaterThan(0);
    // A raw prompt is continued as is; max_tokens bounds it.
    const id = await adapterFor(svc, items[0]!.context);
    const raw = await call(svc.url, 'POST', `/v1/adapters/${id}/generate`, { prompt: 'where is the home of', max_tokens: 1 }, A);
    expect(raw.status).toBe(200);
    expect(raw.body.output.split(/\s+/).filter(Boolean).length).toBeLessThanOrEqual(1);
    expect(raw.body.base_output).toBeUndefined();
    // The CLI asks the same way.
    // (spawned, not spawnSync: the server answering it runs in this process)
    const cli = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/hyperadapt.js'), '--url', svc.url, '--api-key', 'preview-key-alpha-0123456789', 'ask', id, items[0]!.question]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('exit', (status) => resolve({ status, stdout, stderr }));
    });
    expect({ status: cli.status, stderr: cli.stderr }).toEqual({ status: 0, stderr: '' });
    expect(cli.stdout).toBe(`adapter: ${withAdapter[0]}\nbase:    ${closedBook[0]}\n`);
  }, 120000);

  it("keeps ids tenant-scoped, and refuses what cannot be previewed with a clear 4xx", async () => {
    const svc = services[0]!;
    const id = await adapterFor(svc, items[1]!.context);
    expect((await call(svc.url, 'POST', `/v1/adapters/${id}/generate`, { question: 'who ?' }, B)).status).toBe(404);
    const both = await call(svc.url, 'POST', `/v1/adapters/${id}/generate`, { question: 'a', prompt: 'b' }, A);
    expect(both.status).toBe(400);
    expect((await call(svc.url, 'POST', `/v1/adapters/${id}/generate`, {}, A)).status).toBe(400);
    expect((await call(svc.url, 'POST', `/v1/adapters/${id}/generate`, { question: 'a', max_tokens: 0 }, A)).status).toBe(400);
    const fixture = await call(svc.url, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'no base here' } }, { ...A, prefer: 'wait=10' });
    const noBase = await call(svc.url, 'POST', `/v1/adapters/${fixture.body.adapter_id}/generate`, { prompt: 'hello' }, A);
    expect(noBase.status).toBe(422);
    expect(noBase.body.error.message).toMatch(/ships no text base model/);
  }, 60000);

  it('refuses past its bounds (429, 503 with Retry-After) instead of hanging', async () => {
    const svc = await start({ PREVIEW_MAX_PENDING: '1' });
    const id = await adapterFor(svc, items[2]!.context);
    const replies = await Promise.all(Array.from({ length: 6 }, () => call(svc.url, 'POST', `/v1/adapters/${id}/generate`, { question: items[2]!.question }, A)));
    expect(replies.some((r) => r.status === 200)).toBe(true);
    const refused = replies.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.headers.get('retry-after')).toBe('1');
    // A tenant's own bound: one preview in progress at a time; another tenant is not held up.
    const perTenant = await start({ MAX_PREVIEWS_PER_TENANT: '1' });
    const id1 = await adapterFor(perTenant, items[4]!.context);
    const burst = await Promise.all(Array.from({ length: 4 }, () => call(perTenant.url, 'POST', `/v1/adapters/${id1}/generate`, { question: items[4]!.question }, A)));
    expect(burst.some((r) => r.status === 200)).toBe(true);
    const limited = burst.find((r) => r.status === 429);
    expect(limited?.body.error.message).toMatch(/1 previews in progress/);
    const slow = await start({ PREVIEW_TIMEOUT_MS: '100' });
    const id2 = await adapterFor(slow, items[3]!.context);
    // The first preview starts the thread and loads the base: longer than 100 ms.
    const r = await call(slow.url, 'POST', `/v1/adapters/${id2}/generate`, { question: items[3]!.question }, A);
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
  }, 60000);
});
