/**
 * Long contexts and `extends`, on the chunked TEST FIXTURE (windows of 16 tokens, at most 8):
 * a context of many windows round-trips with per-window progress; past the limit is a 413 naming
 * it; an adapter extended by B has the tensors of one request with A + B (to float tolerance),
 * also along a chain of three; `extends` is tenant-scoped (404), model-version-bound (409) and
 * refused for a model without chunking (422); identical long requests share one computation.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { until } from '../helpers/net.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { decodeTensor } from '../../src/adapters/dtype.js';
import { STATE_FILE, readStateFile } from '../../src/adapters/extension-state.js';
import { TextTokenizer } from '../../src/conditioning/text-tokenizer.js';
import { packWindows } from '../../src/conditioning/text-windows.js';
import { CHUNKED_FIXTURE_ID, CHUNKED_MAX_CHUNKS, CHUNKED_WINDOW } from '../fixtures/build-fixture-chunked-model.js';
import { call, FIXTURE_MODELS_DIR, REPO_ROOT, startTestService, type TestService } from '../helpers/test-service.js';

const M = CHUNKED_FIXTURE_ID;
const A = { authorization: 'Bearer long-key-alpha-0123456789' };
const B = { authorization: 'Bearer long-key-beta-0123456789' };
const tok = TextTokenizer.fromFile(path.join(FIXTURE_MODELS_DIR, M, 'tokenizer.json'));
const sentences = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => ['the city of blue', 'a red lives in the green', 'and works at the city', 'blue is of the red and green city'][(i + seed) % 4] + ` ${(seed * 7 + i) % 10} .`).join(' ');
const DOC_A = sentences(7, 1);
const DOC_B = sentences(5, 2);
const DOC_C = sentences(3, 3);
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ env: { MODELS_DIR: FIXTURE_MODELS_DIR, GC_INTERVAL_SECONDS: '0', CHUNK_PASS_ROWS: '2', API_KEYS: 'alpha:long-key-alpha-0123456789,beta:long-key-beta-0123456789' } });
});
afterAll(async () => svc?.close());

async function make(body: Record<string, unknown>, headers = A) {
  const r = await call(svc.url, 'POST', '/v1/adapters', { model: M, ...body }, { ...headers, prefer: 'wait=30' });
  return r;
}

async function tensors(id: string): Promise<Record<string, Float32Array>> {
  const res = await fetch(`${svc.url}/v1/adapters/${id}/files/adapter_model.safetensors`, { headers: A });
  const { tensors } = readSafetensors(new Uint8Array(await res.arrayBuffer()));
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, decodeTensor(t.data, 'float32')]));
}

function maxDiff(x: Record<string, Float32Array>, y: Record<string, Float32Array>): number {
  expect(Object.keys(x).sort()).toEqual(Object.keys(y).sort());
  let worst = 0;
  for (const k of Object.keys(x)) x[k]!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - y[k]![i]!))));
  return worst;
}

describe('long contexts', () => {
  it('reads a context of many windows, reporting progress per window', async () => {
    const ids = tok.encode(DOC_A);
    const windows = packWindows(ids, CHUNKED_WINDOW, tok.sentenceEnds());
    expect(windows.length).toBeGreaterThanOrEqual(4);
    const model = (await call(svc.url, 'GET', `/v1/models/${M}`, undefined, A)).body;
    expect(model.context).toEqual({ window_tokens: CHUNKED_WINDOW, max_chunks: CHUNKED_MAX_CHUNKS, max_tokens: CHUNKED_WINDOW * CHUNKED_MAX_CHUNKS, mode: 'additive-state', can_extend: true });
    // Every event of the job, from the events channel (subscribed before the job exists).
    const sub = new Redis(svc.config.redisUrl);
    const seen: { e: string; r: { progress: string } }[] = [];
    await sub.subscribe(new RedisKeys(svc.config.queuePrefix).events());
    sub.on('message', (_c, m: string) => seen.push(JSON.parse(m)));
    const job = (await call(svc.url, 'POST', '/v1/adapters', { model: M, input: { context: DOC_A } }, { ...A, prefer: 'wait=30' })).body;
    expect(job.status).toBe('succeeded');
    await sub.quit();
    const progress = seen.filter((m) => m.e === 'job.progress').map((m) => Number(m.r.progress));
    // CHUNK_PASS_ROWS=2: one event per pass of two windows, the counts over the document's windows.
    const expected = Array.from({ length: Math.ceil(windows.length / 2) }, (_, k) => Math.round((Math.min(2 * (k + 1), windows.length) / windows.length) * 1e4) / 1e4);
    expect(progress).toEqual(expected);
    expect(seen.map((m) => m.e)).toContain('job.succeeded');
    const done = (await call(svc.url, 'GET', `/v1/jobs/${job.id}`, undefined, A)).body;
    const adapter = (await call(svc.url, 'GET', `/v1/adapters/${done.adapter_id}`, undefined, A)).body;
    expect(adapter).toMatchObject({ extends: null, context_tokens: ids.length });
    // A chunked model's version covers both graphs: a new combine.onnx is a new version.
    const combineSha = (svc.registry.get(M)!.manifest.chunking!).sha256;
    expect(adapter.model_sha256).toBe(createHash('sha256').update(`${model.sha256}:${combineSha}`).digest('hex'));
    expect(adapter.files.map((f: { name: string }) => f.name)).toContain(STATE_FILE);
    const state = readStateFile(new Uint8Array(await (await fetch(`${svc.url}/v1/adapters/${adapter.id}/files/${STATE_FILE}`, { headers: A })).arrayBuffer()), 24);
    expect({ windows: state.windows, tail: state.tail, tokens: state.contextTokens }).toEqual({ windows: windows.length, tail: windows[windows.length - 1], tokens: ids.length });
  }, 60000);

  it('refuses a context over the limit with a 413 that names it in tokens', async () => {
    const r = await make({ input: { context: sentences(40, 0) } });
    expect(r.status).toBe(413);
    expect(r.body.error.message).toMatch(new RegExp(`the limit is ${CHUNKED_WINDOW * CHUNKED_MAX_CHUNKS} tokens`));
  });

  it('A extended by B has the tensors of one request with A + B; a chain of three too', async () => {
    const whole = (await make({ input: { context: `${DOC_A} ${DOC_B}` } })).body;
    const parent = (await make({ input: { context: DOC_A } })).body;
    const child = await make({ input: { context: DOC_B }, extends: parent.adapter_id });
    expect(child.body.status).toBe('succeeded');
    expect(child.body.adapter_id).not.toBe(whole.adapter_id);
    expect(child.body.adapter_id).not.toBe(parent.adapter_id);
    expect(maxDiff(await tensors(child.body.adapter_id), await tensors(whole.adapter_id))).toBeLessThan(1e-5);
    // The windows matter (the fixture's state is not additive over tokens): the parent alone differs.
    expect(maxDiff(await tensors(parent.adapter_id), await tensors(whole.adapter_id))).toBeGreaterThan(1e-3);
    const view = (await call(svc.url, 'GET', `/v1/adapters/${child.body.adapter_id}`, undefined, A)).body;
    const wholeView = (await call(svc.url, 'GET', `/v1/adapters/${whole.adapter_id}`, undefined, A)).body;
    expect(view).toMatchObject({ extends: parent.adapter_id, context_tokens: wholeView.context_tokens });
    // The same extension again is the same adapter (content-addressed over parent + input), cached.
    const again = await make({ input: { context: DOC_B }, extends: parent.adapter_id });
    expect(again.body).toMatchObject({ adapter_id: child.body.adapter_id, cached: true });
    // A chain of three.
    const third = await make({ input: { context: DOC_C }, extends: child.body.adapter_id });
    const all = (await make({ input: { context: `${DOC_A} ${DOC_B} ${DOC_C}` } })).body;
    expect(third.body.status).toBe('succeeded');
    expect(maxDiff(await tensors(third.body.adapter_id), await tensors(all.adapter_id))).toBeLessThan(1e-5);
    // The parent is unchanged.
    expect((await call(svc.url, 'GET', `/v1/adapters/${parent.adapter_id}`, undefined, A)).body.files).toEqual((await call(svc.url, 'GET', `/v1/adapters/${parent.adapter_id}`, undefined, A)).body.files);
    // A parent of one window (its closed state is stored empty) extends the same way.
    const ONE = sentences(1, 4);
    const one = (await make({ input: { context: ONE } })).body;
    const oneState = readStateFile(new Uint8Array(await (await fetch(`${svc.url}/v1/adapters/${one.adapter_id}/files/${STATE_FILE}`, { headers: A })).arrayBuffer()), 24);
    expect(oneState.windows).toBe(1);
    expect([...oneState.closed].every((v) => v === 0)).toBe(true);
    const oneChild = await make({ input: { context: DOC_B }, extends: one.adapter_id });
    const oneWhole = (await make({ input: { context: `${ONE} ${DOC_B}` } })).body;
    expect(maxDiff(await tensors(oneChild.body.adapter_id), await tensors(oneWhole.adapter_id))).toBeLessThan(1e-5);
    // The limit counts the whole chain.
    const over = await make({ input: { context: sentences(20, 4) }, extends: third.body.adapter_id });
    expect(over.status).toBe(413);
    expect(over.body.error.message).toMatch(/more in the adapter it extends; the limit counts both\)/);
  }, 60000);

  it('extends only the tenant\'s own adapters of the same model version, of a model that can extend', async () => {
    const parent = (await make({ input: { context: DOC_B } })).body;
    expect((await make({ input: { context: DOC_C }, extends: parent.adapter_id }, B)).status).toBe(404);
    expect((await make({ input: { context: DOC_C }, extends: 'ad_' + '0'.repeat(40) })).status).toBe(404);
    const other = await call(svc.url, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'the city of blue .' } }, { ...A, prefer: 'wait=30' });
    const conflict = await make({ input: { context: DOC_C }, extends: other.body.adapter_id });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.message).toMatch(/was made by model "fixture-text-tiny"/);
    // A parent that was deleted is unknown, like any id.
    const gone = (await make({ input: { context: 'blue is of the city 7 .' } })).body;
    expect((await call(svc.url, 'DELETE', `/v1/adapters/${gone.adapter_id}`, undefined, A)).status).toBe(204);
    expect((await make({ input: { context: DOC_C }, extends: gone.adapter_id })).status).toBe(404);
    const noChunks = await call(svc.url, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'the red .' }, extends: other.body.adapter_id }, A);
    expect(noChunks.status).toBe(422);
    expect(noChunks.body.error.message).toMatch(/cannot extend adapters/);
  }, 60000);

  it('the CLI extends an adapter (hyperadapt generate --extends)', async () => {
    const parent = (await make({ input: { context: DOC_C } })).body;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-extends-'));
    writeFileSync(path.join(dir, 'more.txt'), DOC_A);
    // spawned, not spawnSync: the server answering it runs in this process
    const cli = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/hyperadapt.js'), '--url', svc.url, '--api-key', 'long-key-alpha-0123456789', 'generate', '--model', M, '--context-file', path.join(dir, 'more.txt'), '--extends', parent.adapter_id, '--out', path.join(dir, 'out')]);
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.on('exit', (status) => resolve({ status, stderr }));
    });
    expect(cli.status).toBe(0);
    expect(readdirSync(path.join(dir, 'out'))).toContain('adapter_model.safetensors');
    const same = await make({ input: { context: DOC_A }, extends: parent.adapter_id });
    expect(same.body).toMatchObject({ cached: true });
    expect((await call(svc.url, 'GET', `/v1/adapters/${same.body.adapter_id}`, undefined, A)).body.extends).toBe(parent.adapter_id);
  }, 60000);

  it('identical long requests in flight share one computation', async () => {
    const before = svc.completed();
    const doc = sentences(8, 5);
    const replies = await Promise.all(Array.from({ length: 6 }, () => make({ input: { context: doc } })));
    expect(new Set(replies.map((r) => r.body.adapter_id)).size).toBe(1);
    expect(replies.every((r) => r.body.status === 'succeeded')).toBe(true);
    // The worker's 'completed' event follows the answer by a moment.
    await until(() => svc.completed() > before, 5000, 'the computation to complete');
    await new Promise((r) => setTimeout(r, 200));
    expect(svc.completed() - before).toBe(1);
  }, 60000);
});
