/**
 * hyper-personalize-tiny, the shipped image hypernetwork: it loads, it round-trips through
 * POST /v1/personalizations into diffusers and kohya files whose keys are the UNet's module
 * names, the service's adapter matches the PyTorch reference written at export, and its quick
 * evaluation (npm run eval -- --quick: sharp → worker threads → safetensors → base.onnx
 * sampling → attribute classifier) shows the adapter rendering the subject far more often
 * than the base model does — pattern included — and about as well from coloured-background images. A broken export, wrong preprocessing, a transposed matrix or a
 * wrong LoRA scale fails here.
 */
import { mkdtempSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ModelRegistry } from '../../src/models/model-registry.js';
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { decodeTensor } from '../../src/adapters/dtype.js';
import { IMAGE_ROWS, loadEvalSubjects } from '../../src/eval/evaluate-personalization.js';
import { call, REPO_ROOT, SHIPPED_MODELS_DIR, startTestService } from '../helpers/test-service.js';

const ID = 'hyper-personalize-tiny';
/**
 * Clear margins over the base model: attribute match (mean of shape, colour, pattern), subject
 * match (all three) and pattern alone. v2.1's quick eval measures +56.7, +79.7 and +68.7 points;
 * v2 measured +36.5 and +23.4 (its pattern 40.6% against the base's 16.7% on all 24 subjects),
 * so v2 would fail the first two and its pattern was the issue-17 miss these guard.
 */
const ATTRIBUTE_MARGIN = 0.45;
const MATCH_MARGIN = 0.5;
const PATTERN_MARGIN = 0.4;
/** Coloured-background conditioning images may cost at most this much attribute match (quick eval, 8 subjects: v2.1 loses 3.1 points, v2 2.6). */
const COLOURED_MAX_DROP = 0.1;
const registry = await ModelRegistry.load({ dirs: [SHIPPED_MODELS_DIR] });
const model = registry.get(ID)!;

function dirBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? dirBytes(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).size), 0);
}

it('ships with a card, its grid, the eval subjects and the attribute classifier, in at most 16 MB', () => {
  expect(model).toBeDefined();
  expect(model.manifest.method).toBe('hyper-personalization');
  expect(model.manifest.formats).toEqual({ supported: ['diffusers', 'kohya'], default: 'diffusers' });
  const card = readFileSync(path.join(model.dir, 'CARD.md'), 'utf8');
  expect(card).toMatch(/grid\.png/);
  expect(statSync(path.join(model.dir, 'grid.png')).size).toBeGreaterThan(1000);
  const subjects = loadEvalSubjects(model);
  expect(subjects.subjects.length).toBeGreaterThanOrEqual(16);
  expect(statSync(path.join(model.dir, 'eval', subjects.classifier)).size).toBeGreaterThan(1000);
  expect(dirBytes(model.dir)).toBeLessThanOrEqual(16 * 1024 * 1024);
});

describe('through the service', () => {
  let svc: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    svc = await startTestService({ env: { MODELS_DIR: SHIPPED_MODELS_DIR } });
  });
  afterAll(async () => svc?.close());

  const subject = () => loadEvalSubjects(model).subjects[0]!;
  const pngs = () => subject().images.map((f) => readFileSync(path.join(model.dir, 'eval', f)));

  it('turns subject PNGs (multipart) into a diffusers LoRA equal to the PyTorch reference', async () => {
    const f = new FormData();
    f.append('model', ID);
    for (const [i, b] of pngs().entries()) f.append('images', new Blob([b], { type: 'image/png' }), `${i}.png`);
    const r = await fetch(`${svc.url}/v1/personalizations`, { method: 'POST', body: f, headers: { prefer: 'wait=30' } });
    const job = (await r.json()) as { status: string; adapter_id: string };
    expect(job.status).toBe('succeeded');
    const st = readSafetensors(new Uint8Array(await (await fetch(`${svc.url}/v1/adapters/${job.adapter_id}/files/pytorch_lora_weights.safetensors`)).arrayBuffer()));
    const g = model.manifest.groups[0]!;
    expect(Object.keys(st.tensors)).toHaveLength(g.modules.length * 2);
    expect(g.modules).toContain('down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k');
    for (const m of g.modules) {
      expect(st.tensors[`unet.${m}.lora_A.weight`]!.shape).toEqual([model.manifest.lora.r, g.in]);
      expect(st.tensors[`unet.${m}.lora_B.weight`]!.shape).toEqual([g.out, model.manifest.lora.r]);
    }
    const ref = loadEvalSubjects(model).reference!;
    const m0 = ref.module;
    const b = decodeTensor(st.tensors[`unet.${m0}.lora_B.weight`]!.data, 'float32');
    const a = decodeTensor(st.tensors[`unet.${m0}.lora_A.weight`]!.data, 'float32');
    const close = (got: Float32Array, want: number[]) => want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v))));
    close(a, ref.lora_A_first);
    close(b, ref.lora_B_first);
  });

  it('writes kohya keys with the model\'s alpha on request', async () => {
    const r = await call(svc.url, 'POST', '/v1/personalizations', { model: ID, images: pngs().map((b) => ({ data: b.toString('base64') })), options: { format: 'kohya' } }, { prefer: 'wait=30' });
    expect(r.body.status).toBe('succeeded');
    const st = readSafetensors(new Uint8Array(await (await fetch(`${svc.url}/v1/adapters/${r.body.adapter_id}/files/lora.safetensors`)).arrayBuffer()));
    const key = 'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_v';
    expect(st.tensors[`${key}.lora_down.weight`]!.shape).toEqual([model.manifest.lora.r, 64]);
    expect(decodeTensor(st.tensors[`${key}.alpha`]!.data, 'float32')[0]).toBe(model.manifest.lora.lora_alpha);
  });
});

it('renders the subject far more often than the base model on the quick eval (npm run eval -- --quick)', async () => {
  // Its own process, exactly as `npm run eval` runs (and outside jest's module sandbox, whose
  // typed arrays onnxruntime would not recognise).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'eval-img-'));
  const out = path.join(dir, 'result.json');
  const grid = path.join(dir, 'grid.png');
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/eval/cli.js'), '--model', ID, '--quick', '--json', out, '--grid', grid], {
      env: { PATH: process.env.PATH, MODELS_DIR: SHIPPED_MODELS_DIR },
      stdio: 'ignore',
    });
    child.on('exit', resolve);
  });
  expect(code).toBe(0);
  const result = JSON.parse(readFileSync(out, 'utf8')) as { subjects: number; rows: { name: string; metrics: Record<string, { mean: number }> }[] };
  const row = (name: string) => result.rows.find((r) => r.name === name);
  const [base, adapted, coloured, ceiling] = [row(IMAGE_ROWS.base), row(IMAGE_ROWS.adapted), row(IMAGE_ROWS.coloured), row(IMAGE_ROWS.heldout)];
  expect(result.subjects).toBe(8);
  expect(adapted!.metrics.attributes!.mean - base!.metrics.attributes!.mean).toBeGreaterThanOrEqual(ATTRIBUTE_MARGIN);
  expect(adapted!.metrics.match!.mean - base!.metrics.match!.mean).toBeGreaterThanOrEqual(MATCH_MARGIN);
  expect(adapted!.metrics.pattern!.mean - base!.metrics.pattern!.mean).toBeGreaterThanOrEqual(PATTERN_MARGIN);
  expect(adapted!.metrics.similarity!.mean).toBeGreaterThan(base!.metrics.similarity!.mean);
  expect(ceiling!.metrics.match!.mean).toBeGreaterThanOrEqual(0.9); // the classifier reads real renders
  // Coloured-background check: the same subjects photographed on strongly coloured backgrounds
  // must give nearly the same adapter quality (an adapter that reads the background takes its colour).
  expect(adapted!.metrics.attributes!.mean - coloured!.metrics.attributes!.mean).toBeLessThanOrEqual(COLOURED_MAX_DROP);
  expect(coloured!.metrics.colour!.mean - base!.metrics.colour!.mean).toBeGreaterThanOrEqual(ATTRIBUTE_MARGIN);
  const meta = await sharp(grid).metadata();
  expect(meta.format).toBe('png');
  expect(meta.height).toBeGreaterThan(8 * 32 * 3);
}, 180000);
