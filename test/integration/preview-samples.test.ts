/**
 * POST /v1/adapters/{id}/samples: an image adapter tried through its model's diffusion base — a
 * PNG with the base's samples over the adapted model's, from the same noise, the same bytes for
 * the same seed — with tenant isolation and 4xx for what cannot be sampled.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ModelRegistry } from '../../src/models/model-registry.js';
import { loadEvalSubjects } from '../../src/eval/evaluate-personalization.js';
import { call, REPO_ROOT, SHIPPED_MODELS_DIR, startTestService, type TestService } from '../helpers/test-service.js';

const ID = 'hyper-personalize-tiny';
const KEY_A = 'samples-key-alpha-0123456789';
const A = { authorization: `Bearer ${KEY_A}` };
const B = { authorization: 'Bearer samples-key-beta-0123456789' };
const model = (await ModelRegistry.load({ dirs: [SHIPPED_MODELS_DIR] })).get(ID)!;
const subject = loadEvalSubjects(model).subjects[0]!;
let svc: TestService;
let adapterId: string;

beforeAll(async () => {
  svc = await startTestService({ env: { MODELS_DIR: SHIPPED_MODELS_DIR, GC_INTERVAL_SECONDS: '0', API_KEYS: `alpha:${KEY_A},beta:samples-key-beta-0123456789` } });
  const f = new FormData();
  f.append('model', ID);
  for (const [i, file] of subject.images.entries()) f.append('images', new Blob([readFileSync(path.join(model.dir, 'eval', file))], { type: 'image/png' }), `${i}.png`);
  const job = (await (await fetch(`${svc.url}/v1/personalizations`, { method: 'POST', body: f, headers: { ...A, prefer: 'wait=30' } })).json()) as { status: string; adapter_id: string };
  expect(job.status).toBe('succeeded');
  adapterId = job.adapter_id;
}, 60000);
afterAll(async () => svc?.close());

async function samples(body: unknown, headers = A): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const res = await fetch(`${svc.url}/v1/adapters/${adapterId}/samples`, { method: 'POST', body: JSON.stringify(body), headers: { ...headers, 'content-type': 'application/json' } });
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Mean RGB of each tile of a 2-row grid (2-px gaps, 6 px after every 4th column). */
async function tiles(png: Buffer, n: number, scale: number): Promise<{ width: number; height: number; rows: number[][][] }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const size = 32;
  const rows: number[][][] = [[], []];
  let x = 2;
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < 2; r++) {
      const sum = [0, 0, 0];
      const y0 = 2 + r * (size + 2);
      for (let yy = 0; yy < size; yy++) for (let xx = 0; xx < size; xx++) for (let c = 0; c < 3; c++) sum[c]! += data[(((y0 + yy) * scale) * info.width + (x + xx) * scale) * info.channels + c]!;
      rows[r]!.push(sum.map((s) => s / (size * size)));
    }
    x += size + ((k + 1) % 4 === 0 ? 6 : 2);
  }
  return { width: info.width, height: info.height, rows };
}

describe('samples previews', () => {
  it('draws base samples over adapted samples from the same noise, byte-identical for a seed', async () => {
    const m = (await call(svc.url, 'GET', `/v1/models/${ID}`, undefined, A)).body;
    expect(m.preview).toBe('samples');
    expect(m.sample_classes).toEqual(model.manifest.base!.diffusion!.classes);
    const one = await samples({ n: 3, seed: 7, class: subject.shape, scale: 2 });
    expect(one.status).toBe(200);
    expect(one.type).toBe('image/png');
    const grid = await tiles(one.bytes, 3, 2);
    // 3 columns of 32 px with 2-px gaps, 2 rows: the layout the playground and README describe.
    expect({ width: grid.width, height: grid.height }).toEqual({ width: 2 * (2 + 3 * 34), height: 2 * (2 + 2 * 34) });
    // The adapter changes what is drawn: each adapted tile differs from the base tile above it.
    for (let k = 0; k < 3; k++) {
      const d = grid.rows[0]![k]!.reduce((s, v, c) => s + Math.abs(v - grid.rows[1]![k]![c]!), 0);
      expect(d).toBeGreaterThan(3);
    }
    expect((await samples({ n: 3, seed: 7, class: subject.shape, scale: 2 })).bytes.equals(one.bytes)).toBe(true);
    expect((await samples({ n: 3, seed: 8, class: subject.shape, scale: 2 })).bytes.equals(one.bytes)).toBe(false);
    // Defaults: 4 samples of the first class, 4× larger.
    const dflt = await samples({});
    expect(dflt.status).toBe(200);
    const meta = await sharp(dflt.bytes).metadata();
    expect({ width: meta.width, height: meta.height }).toEqual({ width: 4 * (2 + 4 * 34 + 4), height: 4 * (2 + 2 * 34) });
  }, 60000);

  it('keeps ids tenant-scoped and refuses what cannot be sampled with a clear 4xx', async () => {
    expect((await samples({ n: 1 }, B)).status).toBe(404);
    const badClass = await samples({ class: 'teapot' });
    expect(badClass.status).toBe(400);
    expect(JSON.parse(badClass.bytes.toString()).error.message).toMatch(/class must be one of circle/);
    expect((await samples({ n: 9 })).status).toBe(400);
    expect((await samples({ n: 1, seed: -1 })).status).toBe(400);
    // Text previews of an image adapter, and samples of a text adapter, are 422.
    const asText = await call(svc.url, 'POST', `/v1/adapters/${adapterId}/generate`, { question: 'what shape ?' }, A);
    expect(asText.status).toBe(422);
    expect(asText.body.error.message).toMatch(/ships no text base model/);
    const text = await call(svc.url, 'POST', '/v1/adapters', { model: 'generative-adapter-tiny', input: { context: 'ada moss lives in lyon .' } }, { ...A, prefer: 'wait=30' });
    const textSamples = await call(svc.url, 'POST', `/v1/adapters/${text.body.adapter_id}/samples`, { n: 1 }, A);
    expect(textSamples.status).toBe(422);
    expect(textSamples.body.error.message).toMatch(/ships no diffusion base model/);
  }, 60000);

  it('the CLI writes the same grid', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'samples-cli-')), 'grid.png');
    // spawned, not spawnSync: the server answering it runs in this process
    const cli = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/cli/hyperadapt.js'), '--url', svc.url, '--api-key', KEY_A, 'samples', adapterId, '--out', out, '--n', '2', '--seed', '5', '--class', subject.shape]);
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.on('exit', (status) => resolve({ status, stderr }));
    });
    expect(cli).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(out).equals((await samples({ n: 2, seed: 5, class: subject.shape })).bytes)).toBe(true);
  }, 60000);
});
