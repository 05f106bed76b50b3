/**
 * The streamed adapter path (inference thread: onnxruntime Cast for float16, the bfloat16 pass,
 * the check on converted bytes, the safetensors plan written with vectored writes and hashed on
 * the way) produces byte-identical files to the writer it replaced, for every dtype and format.
 * The golden files in test/fixtures/golden/ were written by that writer (commit f2a6b2d's
 * `writeAdapterFiles`, JS conversion) from `goldenOutputs()`; here a constant ONNX generator
 * emits the same outputs and the real inference thread writes them.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildOnnxModel, ONNX_FLOAT, ONNX_INT64 } from '../../src/inference/onnx-graph.js';
import { ModelRegistry } from '../../src/models/model-registry.js';
import { createLogger } from '../../src/logging/logger.js';
import { openScratchPool, SCRATCH_TENANT, type ScratchPool } from '../../src/eval/scratch-pool.js';
import type { Dtype } from '../../src/adapters/dtype.js';
import { fixtureTokenizer } from '../fixtures/build-fixture-model.js';
import { GOLDEN_MANIFEST, goldenOutputs, withoutFloat16Overflow } from '../helpers/golden-outputs.js';
import { REPO_ROOT } from '../helpers/test-service.js';

const GOLDEN_DIR = path.join(REPO_ROOT, 'test/fixtures/golden');
const PROV_ID = `ad_${'ab'.repeat(20)}`;

type Outputs = Record<string, { data: Float32Array; dims: number[] }>;

/** A model directory whose generator emits `outputs` (batch 2) whatever its input. */
function constantModel(root: string, outputs: Outputs): void {
  const id = GOLDEN_MANIFEST.id; // the goldens name it in their metadata
  const dir = path.join(root, id);
  mkdirSync(dir, { recursive: true });
  const names = Object.keys(outputs);
  const onnx = buildOnnxModel({
    producer: 'hyperadapt-test-fixture',
    name: id,
    inputs: [{ name: 'input_ids', type: ONNX_INT64, shape: ['batch', 'seq'] }],
    outputs: names.map((n) => ({ name: n, type: ONNX_FLOAT, shape: outputs[n]!.dims })),
    nodes: names.map((n) => ({ op: 'Identity', inputs: [`c_${n}`], outputs: [n] })),
    initializers: names.map((n) => ({ name: `c_${n}`, type: ONNX_FLOAT, dims: outputs[n]!.dims, values: outputs[n]!.data })),
  });
  writeFileSync(path.join(dir, 'generator.onnx'), onnx);
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(fixtureTokenizer().json));
  const manifest = { ...GOLDEN_MANIFEST, id, sha256: '0'.repeat(64) };
  manifest.sha256 = createHash('sha256').update(onnx).digest('hex');
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}

const root = mkdtempSync(path.join(os.tmpdir(), 'golden-models-'));
const pools: Record<string, ScratchPool> = {};

beforeAll(async () => {
  const nan = goldenOutputs();
  const b = nan['lora_B__down_proj']!;
  b.data[b.data.length - 5] = NaN; // in row 1 only
  const variants: Record<string, Outputs> = { all: goldenOutputs(), f16: withoutFloat16Overflow(goldenOutputs()), nan, nanf16: withoutFloat16Overflow(nan) };
  for (const [name, outputs] of Object.entries(variants)) {
    constantModel(path.join(root, name), outputs);
    const registry = await ModelRegistry.load({ dirs: [path.join(root, name)] });
    pools[name] = openScratchPool(registry.list(), createLogger('silent'));
    await pools[name]!.pool.ready();
  }
});
afterAll(async () => {
  for (const p of Object.values(pools)) await p.close();
  rmSync(root, { recursive: true, force: true });
});

/** Runs both golden rows of `variant` through the real inference thread. */
const generate = (variant: string, items: ReturnType<typeof item>[]) => pools[variant]!.pool.generate(GOLDEN_MANIFEST.id, items);

const item = (dtype: Dtype, format: string, id: string) => ({
  tenant: SCRATCH_TENANT,
  adapterId: id,
  modelSha256: '0'.repeat(64),
  input: { context: 'the city' },
  options: { dtype, format: format as 'peft' },
});
const idFor = (tag: string) => `ad_${createHash('sha1').update(tag).digest('hex')}`;

describe.each(['float32', 'float16', 'bfloat16'] as const)('%s', (dtype) => {
  it.each(['peft', 'diffusers', 'kohya'])('writes %s files byte-identical to the golden files, row by row', async (format) => {
    const variant = dtype === 'float16' ? 'f16' : 'all';
    // Two rows, two adapter ids of the same length as the goldens' PROV_ID.
    const ids = [idFor(`${dtype}-${format}-0`), idFor(`${dtype}-${format}-1`)];
    const { results } = await generate(variant, [item(dtype, format, ids[0]!), item(dtype, format, ids[1]!)]);
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    const goldens = readdirSync(GOLDEN_DIR).filter((f) => f.startsWith(`${format}-${dtype}-`));
    expect(goldens.length).toBeGreaterThan(0);
    for (const row of [0, 1]) {
      const r = results[row]!;
      if (!r.ok) throw new Error(r.error.message);
      for (const f of r.files) {
        const golden = readFileSync(path.join(GOLDEN_DIR, `${format}-${dtype}-row${row}-${f.name}`));
        const written = Buffer.from(pools[variant]!.read(ids[row]!, f.name));
        // Only the adapter id differs from the goldens (they were written under PROV_ID).
        const expected = Buffer.from(golden.toString('latin1').split(PROV_ID).join(ids[row]!), 'latin1');
        expect(written.length).toBe(expected.length);
        expect(written.equals(expected)).toBe(true);
        // The reported digest and size are those of the bytes on disk.
        expect(f).toEqual({ name: f.name, bytes: written.length, sha256: createHash('sha256').update(written).digest('hex') });
      }
    }
  });
});

it('refuses rows that overflow float16, naming the module and a dtype that fits', async () => {
  const { results } = await generate('all', [item('float16', 'peft', idFor('of-0')), item('float16', 'peft', idFor('of-1'))]);
  for (const r of results) {
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('generation_failed');
      expect(r.error.retryable).toBe(false);
      expect(r.error.message).toMatch(/^model\.layers\.\d\.\S+\.lora_[AB] overflows float16; request dtype float32 or bfloat16$/);
    }
  }
});

it('refuses only the row with a non-finite value, in every dtype, and keeps its batch-mate', async () => {
  for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
    const { results } = await generate(dtype === 'float16' ? 'nanf16' : 'nan', [item(dtype, 'peft', idFor(`nan-${dtype}-0`)), item(dtype, 'peft', idFor(`nan-${dtype}-1`))]);
    expect(results[0]!.ok).toBe(true);
    const bad = results[1]!;
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.message).toBe('the generator produced a non-finite value in model.layers.1.mlp.down_proj.lora_B; no adapter was written');
  }
});
