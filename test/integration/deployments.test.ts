/**
 * Deployments to serving engines, against loopback STAND-INS for vLLM's and SGLang's runtime LoRA
 * APIs (test/helpers/engine-stand-in.ts): loaded, engine down then up, engine refusing, unload on
 * delete and on the adapter's removal, atomic publishing, tenant restrictions, rank and
 * architecture limits, deploy up front with its webhook event, the resolver layout.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { hashKey } from '../../src/auth/api-keys.js';
import { EngineStandIn } from '../helpers/engine-stand-in.js';
import { freePort, until } from '../helpers/net.js';
import { call, REPO_ROOT, startTestService, type TestService } from '../helpers/test-service.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { assertWebhookConforms } from '../helpers/spec-validator.js';
import { make, MODEL, sleep } from '../helpers/lifecycle.js';

const SERVED = 'mistralai/Mistral-7B-v0.1';
const A = { authorization: 'Bearer deploy-key-alpha-0123456789' };
const B = { authorization: 'Bearer deploy-key-beta-0123456789' };
const engines: EngineStandIn[] = [];
let svc: TestService;
let vllm: EngineStandIn;
let sglang: EngineStandIn;
let downPort: number;
let root: string;

const target = (name: string) => path.join(root, name);

beforeAll(async () => {
  vllm = await new EngineStandIn({ maxRank: 16, servedModel: SERVED }).start();
  sglang = await new EngineStandIn({ maxRank: 16, servedModel: SERVED }).start();
  engines.push(vllm, sglang);
  downPort = await freePort();
  root = mkdtempSync(path.join(os.tmpdir(), 'engines-'));
  const targets = {
    targets: [
      { name: 'vllm-main', kind: 'vllm', url: vllm.url, api_key: 'engine-secret', served_model: SERVED, path: target('vllm'), max_lora_rank: 16, arch: 'llama' },
      { name: 'sglang-main', kind: 'sglang', url: sglang.url, served_model: SERVED, path: target('sglang'), max_lora_rank: 16 },
      { name: 'later', kind: 'vllm', url: `http://127.0.0.1:${downPort}`, served_model: SERVED, path: target('later'), max_lora_rank: 16, timeout_ms: 500 },
      { name: 'tiny-rank', kind: 'vllm', url: vllm.url, served_model: SERVED, path: target('tiny'), max_lora_rank: 4 },
      { name: 'other-arch', kind: 'vllm', url: vllm.url, served_model: 'some/gpt2', path: target('gpt2'), max_lora_rank: 16, arch: 'gpt2' },
      { name: 'resolver', kind: 'vllm-resolver', served_model: SERVED, path: target('resolver'), max_lora_rank: 64 },
      { name: 'beta-only', kind: 'sglang', url: sglang.url, served_model: SERVED, path: target('beta'), max_lora_rank: 16, tenants: ['beta'] },
    ],
  };
  const file = path.join(root, 'targets.json');
  writeFileSync(file, JSON.stringify(targets));
  const keys = path.join(root, 'api-keys');
  writeFileSync(keys, `alpha:${hashKey('deploy-key-alpha-0123456789').toString('hex')}\nbeta:${hashKey('deploy-key-beta-0123456789').toString('hex')}\n`);
  svc = await startTestService({ webhooks: true, env: { DEPLOY_TARGETS_FILE: file, API_KEYS_FILE: keys, DEPLOY_BACKOFF_MS: '100', DEPLOY_ATTEMPTS: '12', GC_INTERVAL_SECONDS: '0', WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_SCALE: '0.001' } });
});
afterAll(async () => {
  await svc?.close();
  for (const e of engines) await e.close();
});

async function deployed(id: string, name: string, headers = A, status = 'loaded'): Promise<any> {
  let d: any;
  await until(async () => {
    d = (await call(svc.url, 'GET', `/v1/adapters/${id}/deployments`, undefined, headers)).body.data?.find((x: { name: string }) => x.name === name);
    return d?.status === status;
  }, 20000, `deployment ${name} ${status}`);
  return d;
}

describe('deployments', () => {
  it('publishes the adapter where vLLM reads it (hard-linked, naming the served model) and loads it', async () => {
    const id = await make(svc, 'deploy me to vllm', A);
    const r = await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'vllm-main' }, A);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ object: 'deployment', adapter_id: id, target: 'vllm-main', kind: 'vllm', name: id, status: 'pending', lora_path: path.join(target('vllm'), id) });
    const d = await deployed(id, id);
    expect(d).toMatchObject({ status: 'loaded', error: null, attempts: 1 });
    const load = vllm.requests.find((q) => q.body.lora_name === id)!;
    expect(load).toMatchObject({ path: '/v1/load_lora_adapter', body: { lora_name: id, lora_path: d.lora_path }, problems: [], authorization: 'Bearer engine-secret' });
    const config = JSON.parse(readFileSync(path.join(d.lora_path, 'adapter_config.json'), 'utf8'));
    expect(config.base_model_name_or_path).toBe(SERVED);
    const published = readFileSync(path.join(d.lora_path, 'adapter_model.safetensors'));
    const rec = (await call(svc.url, 'GET', `/v1/adapters/${id}`, undefined, A)).body;
    expect(createHash('sha256').update(published).digest('hex')).toBe(rec.files.find((f: { name: string }) => f.name === 'adapter_model.safetensors').sha256);
    if (svc.config.store.kind === 'fs') {
      // Hard-linked, not copied.
      const stored = path.join(svc.config.dataDir, 'tenants', 'alpha', 'adapters', id, 'adapter_model.safetensors');
      expect(statSync(path.join(d.lora_path, 'adapter_model.safetensors')).ino).toBe(statSync(stored).ino);
    }
  });

  it('speaks SGLang to an SGLang target, and unloads and unpublishes on DELETE', async () => {
    const id = await make(svc, 'deploy me to sglang', A);
    await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'sglang-main', name: 'my-lora' }, A);
    const d = await deployed(id, 'my-lora');
    expect(sglang.requests.at(-1)).toMatchObject({ path: '/load_lora_adapter', body: { lora_name: 'my-lora', lora_path: path.join(target('sglang'), 'my-lora') }, problems: [] });
    const del = await call(svc.url, 'DELETE', `/v1/adapters/${id}/deployments/my-lora`, undefined, A);
    expect(del.status).toBe(202);
    expect(del.body.status).toBe('unloading');
    await until(async () => (await call(svc.url, 'GET', `/v1/adapters/${id}/deployments`, undefined, A)).body.data.length === 0, 10000, 'the record to go');
    expect(sglang.requests.at(-1)).toMatchObject({ path: '/unload_lora_adapter', body: { lora_name: 'my-lora' } });
    expect(existsSync(d.lora_path)).toBe(false);
  });

  it('retries while the engine is down, and loads once it is up', async () => {
    const id = await make(svc, 'deploy me later', A);
    await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'later' }, A);
    await until(async () => ((await call(svc.url, 'GET', `/v1/adapters/${id}/deployments`, undefined, A)).body.data[0]?.attempts ?? 0) >= 2, 10000, 'two failed attempts');
    const pending = (await call(svc.url, 'GET', `/v1/adapters/${id}/deployments`, undefined, A)).body.data[0];
    expect(pending).toMatchObject({ status: 'pending', error: expect.stringMatching(/could not be reached/) });
    const late = await new EngineStandIn({ maxRank: 16, servedModel: SERVED }).start(downPort);
    engines.push(late);
    late.replies = [{ status: 503, body: 'warming up' }];
    const d = await deployed(id, id);
    expect(d.attempts).toBeGreaterThanOrEqual(3);
    expect(late.requests.filter((q) => q.path === '/v1/load_lora_adapter')).toHaveLength(2);
  });

  it("fails with the engine's answer when it refuses, and leaves nothing published", async () => {
    const id = await make(svc, 'refused by the engine', A);
    vllm.replies = [{ status: 400, body: 'The lora adapter limit (max_loras) is reached' }];
    await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'vllm-main', name: 'refused' }, A);
    const d = await deployed(id, 'refused', A, 'failed');
    expect(d.error).toMatch(/answered 400.*max_loras/);
    expect(existsSync(path.join(target('vllm'), 'refused'))).toBe(false);
  });

  it('refuses what the engine could not load (422), targets a tenant may not use (404), and names held by another adapter (409)', async () => {
    const id = await make(svc, 'limits', A);
    const rank = await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'tiny-rank' }, A);
    expect(rank.status).toBe(422);
    expect(rank.body.error.message).toMatch(/rank 8.*ranks up to 4/);
    const arch = await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'other-arch' }, A);
    expect(arch.status).toBe(422);
    expect(arch.body.error.message).toMatch(/gpt2 model.*llama base/);
    const foreign = await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'beta-only' }, A);
    expect(foreign.status).toBe(404);
    expect((await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'nope' }, A)).body.error.message).toBe(foreign.body.error.message.replace('beta-only', 'nope'));
    const other = await make(svc, 'limits, another adapter', A);
    expect((await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'resolver', name: 'shared' }, A)).status).toBe(202);
    expect((await call(svc.url, 'POST', `/v1/adapters/${other}/deployments`, { target: 'resolver', name: 'shared' }, A)).status).toBe(409);
    // Another tenant's adapter is a missing adapter.
    expect((await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'beta-only' }, B)).status).toBe(404);
    expect((await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'vllm-main', extra: 1 }, A)).status).toBe(400);
  });

  it('publishes the resolver layout without calling anything, atomically: a reader never sees a partial adapter', async () => {
    const id = await make(svc, 'resolver layout', A);
    const dir = path.join(target('resolver'), 'watched');
    const files = (await call(svc.url, 'GET', `/v1/adapters/${id}`, undefined, A)).body.files as { name: string; bytes: number }[];
    let seen = 0;
    let partial = 0;
    let stop = false;
    const poller = (async () => {
      while (!stop) {
        if (existsSync(dir)) {
          try {
            const names = readdirSync(dir);
            const whole = files.every((f) => names.includes(f.name) && (f.name === 'adapter_config.json' || statSync(path.join(dir, f.name)).size === f.bytes));
            if (whole) seen++;
            else partial++;
          } catch {
            /* renamed away between the calls: not a partial read */
          }
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const before = vllm.requests.length + sglang.requests.length;
    for (let i = 0; i < 5; i++) {
      await call(svc.url, 'POST', `/v1/adapters/${id}/deployments`, { target: 'resolver', name: 'watched' }, A);
      await deployed(id, 'watched');
    }
    stop = true;
    await poller;
    expect(seen).toBeGreaterThan(0);
    expect(partial).toBe(0);
    expect(vllm.requests.length + sglang.requests.length).toBe(before);
    expect(JSON.parse(readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).base_model_name_or_path).toBe(SERVED);
  });

  it('refuses a diffusion adapter up front (422) before anything is stored', async () => {
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
    const r = await call(svc.url, 'POST', '/v1/personalizations', { model: 'fixture-image-tiny', images: [{ data: png.toString('base64') }], deploy: [{ target: 'vllm-main' }] }, A);
    expect(r.status).toBe(422);
    expect(r.body.error.message).toMatch(/PEFT format; this adapter is diffusers/);
  });

  it('deploys from the CLI and lists deployments', async () => {
    const id = await make(svc, 'deploy from the command line', A);
    const cli = (args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/hyperadapt.js'), '--url', svc.url, '--api-key', 'deploy-key-alpha-0123456789', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      child.on('exit', (code) => resolve({ code, out }));
    });
    const r = await cli(['deploy', id, '--target', 'sglang-main', '--name', 'from-cli']);
    expect(r).toMatchObject({ code: 0, out: expect.stringContaining(`${id} loaded on sglang-main as from-cli`) });
    expect((await cli(['deployments', id])).out).toMatch(/sglang-main\s+from-cli\s+loaded/);
    const refused = await cli(['deploy', id, '--target', 'tiny-rank']);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/ranks up to 4/);
  });

  it('deploys up front from POST /v1/adapters, tells the webhook, and unloads when the adapter is deleted', async () => {
    const bad = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'up front' }, deploy: [{ target: 'tiny-rank' }] }, A);
    expect(bad.status).toBe(422);
    const secret = (await call(svc.url, 'GET', '/v1/webhook-secret', undefined, A)).body.secret;
    const rx = await new WebhookReceiver().start();
    rx.secrets = [secret];
    try {
      const r = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: 'up front' }, deploy: [{ target: 'vllm-main', name: 'up-front' }], webhook: { url: `${rx.url}/hook` } }, { ...A, prefer: 'wait=10' });
      expect(r.body.status).toBe('succeeded');
      const id = r.body.adapter_id;
      const d = await deployed(id, 'up-front');
      await rx.waitFor(() => rx.received.some((x) => x.payload?.type === 'adapter.deployed'));
      const event = rx.received.find((x) => x.payload?.type === 'adapter.deployed')!;
      expect(event.verifiedWith).toEqual([true]);
      expect(event.payload.data).toMatchObject({ object: 'deployment', adapter_id: id, name: 'up-front', status: 'loaded', job_id: r.body.id });
      assertWebhookConforms('adapter.deployed', event.payload);
      // Deleting the adapter unloads and unpublishes its deployments.
      expect((await call(svc.url, 'DELETE', `/v1/adapters/${id}`, undefined, A)).status).toBe(204);
      await until(async () => vllm.requests.some((q) => q.path === '/v1/unload_lora_adapter' && q.body.lora_name === 'up-front'), 10000, 'the unload');
      await until(async () => !existsSync(d.lora_path), 5000, 'the unpublish');
    } finally {
      await rx.close();
    }
    await sleep(10);
  });
});
