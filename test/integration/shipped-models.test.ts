/**
 * The models `npm start` serves: they load, round-trip through the service, and their quick
 * evaluation — through the service's own code path (worker threads → safetensors → base.onnx)
 * — shows the generated adapter beating closed-book by a clear margin. A broken export, a
 * wrong LoRA scaling or a transposed matrix fails here.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { ModelRegistry } from '../../src/models/model-registry.js';
import { expectPeftAdapter } from '../helpers/peft-checks.js';
import type { EvalItem } from '../../src/eval/evaluate-model.js';
import { call, REPO_ROOT, SHIPPED_MODELS_DIR, startTestService } from '../helpers/test-service.js';

/** The margin each method must clear over closed-book exact match on the quick sample. */
const MARGIN: Record<string, number> = { 'generative-adapter': 0.3, iag: 0.05 };

const registry = await ModelRegistry.load({ dirs: [SHIPPED_MODELS_DIR] });
// The image model has its own suite (shipped-image-model.test.ts).
const models = registry.list().filter((m) => m.manifest.condition.kind === 'text');

it('ships the default model, generative-adapter-tiny, with a card and an eval sample', () => {
  const m = registry.get('generative-adapter-tiny');
  expect(m).toBeDefined();
  expect(existsSync(path.join(m!.dir, 'CARD.md'))).toBe(true);
  expect(existsSync(path.join(m!.dir, 'eval-sample.json'))).toBe(true);
  expect(m!.manifest.base).toBeDefined();
});

describe.each(models.map((m) => [m.manifest.id, m] as const))('%s', (id, model) => {
  it('round-trips through the service into a PEFT adapter of the manifest\'s modules', async () => {
    const svc = await startTestService({ env: { MODELS_DIR: SHIPPED_MODELS_DIR } });
    try {
      const field = Object.keys(model.manifest.condition.kind === 'text' ? model.manifest.condition.fields : {})[0]!;
      const sample = JSON.parse(readFileSync(path.join(model.dir, 'eval-sample.json'), 'utf8')) as { items: EvalItem[] };
      const text = field === 'question' ? sample.items[0]!.question : sample.items[0]!.context;
      const r = await call(svc.url, 'POST', '/v1/adapters', { model: id, input: { [field]: text } }, { prefer: 'wait=30' });
      expect(r.body.status).toBe('succeeded');
      const bytes = new Uint8Array(await (await fetch(`${svc.url}/v1/adapters/${r.body.adapter_id}/files/adapter_model.safetensors`)).arrayBuffer());
      const config = (await call(svc.url, 'GET', `/v1/adapters/${r.body.adapter_id}/files/adapter_config.json`)).body;
      expectPeftAdapter(model.manifest, config, bytes, 'float32');
    } finally {
      await svc.close();
    }
  });

  it('beats closed-book by a clear margin on the quick eval (npm run eval -- --quick)', async () => {
    // The eval runs as its own process, exactly as `npm run eval` does (and outside jest's module
    // sandbox, whose typed arrays onnxruntime would not recognise).
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'eval-')), 'result.json');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/eval/cli.js'), '--model', id, '--quick', '--json', out], {
        env: { PATH: process.env.PATH, MODELS_DIR: SHIPPED_MODELS_DIR },
        stdio: 'ignore',
      });
      child.on('exit', resolve);
    });
    expect(code).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8')) as { rows: { name: string; em: { mean: number } }[]; agreementWithPython: number | null };
    const [closed, withContext, adapter] = result.rows;
    const margin = MARGIN[model.manifest.method] ?? 0.05;
    expect(adapter!.em.mean - closed!.em.mean).toBeGreaterThanOrEqual(margin);
    expect(withContext!.em.mean).toBeGreaterThan(closed!.em.mean);
    // The service path reproduces the PyTorch evaluation's answers (same weights, same decoding).
    if (result.agreementWithPython !== null) expect(result.agreementWithPython).toBeGreaterThanOrEqual(0.9);
  }, 120000);
});
