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
import type { EvalItem, EvalResult } from '../../src/eval/evaluate-model.js';
import { call, REPO_ROOT, SHIPPED_MODELS_DIR, startTestService } from '../helpers/test-service.js';

/** The margin each method must clear over closed-book exact match on the quick sample. */
const MARGIN: Record<string, number> = { 'generative-adapter': 0.3, iag: 0.05 };
/**
 * A chunked model's combination of windows, on the sample's questions about the LATER
 * windows of long documents: the adapter of all windows must beat the adapter of the first window
 * alone (what truncation gives) by this much exact match. Were the windows not combined (only the
 * first read, or the states not summed), the two rows would be equal.
 */
const COMBINE_MARGIN = 0.04;

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

  // A chunked model's sample holds long documents, on which a tiny model recalls little: it is
  // evaluated whole (220 questions, ~10 s) so that the window-combination check has enough
  // questions about later windows; the others run the --quick head (60 questions).
  const quick = !model.manifest.chunking;
  it(`beats closed-book by a clear margin on the ${quick ? 'quick ' : ''}eval (npm run eval${quick ? ' -- --quick' : ''})`, async () => {
    // The eval runs as its own process, exactly as `npm run eval` does (and outside jest's module
    // sandbox, whose typed arrays onnxruntime would not recognise).
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'eval-')), 'result.json');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/src/eval/cli.js'), '--model', id, ...(quick ? ['--quick'] : []), '--json', out], {
        env: { PATH: process.env.PATH, MODELS_DIR: SHIPPED_MODELS_DIR },
        stdio: 'ignore',
      });
      child.on('exit', resolve);
    });
    expect(code).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8')) as EvalResult;
    const row = (by: string, group: string, name: string) => result.breakdown.find((b) => b.by === by && b.group === group && b.row === name);
    const [closedRow, withContextRow, adapterRow] = result.rows;
    // The single-window margin: over one-window documents where the sample has long ones too.
    const [closed, withContext, adapter] = model.manifest.chunking
      ? [closedRow!.name, withContextRow!.name, adapterRow!.name].map((name) => row('n_windows', '1', name)!)
      : [closedRow, withContextRow, adapterRow];
    const margin = MARGIN[model.manifest.method] ?? 0.05;
    expect(adapter!.em.mean - closed!.em.mean).toBeGreaterThanOrEqual(margin);
    expect(withContext!.em.mean).toBeGreaterThan(closed!.em.mean);
    // The service path reproduces the PyTorch evaluation's answers (same weights, same decoding).
    if (result.agreementWithPython !== null) expect(result.agreementWithPython).toBeGreaterThanOrEqual(0.9);
    if (model.manifest.chunking) {
      const all = row('answer_window', 'later windows', 'base + generated adapter (closed-book)');
      const first = row('answer_window', 'later windows', 'first window only (adapter)');
      expect(all?.n).toBeGreaterThanOrEqual(20);
      expect(first?.n).toBe(all?.n);
      expect(all!.em.mean - first!.em.mean).toBeGreaterThanOrEqual(COMBINE_MARGIN);
    }
    if (model.manifest.method === 'iag') {
      // Reworded questions (issue 13's goal: ≥ 85% of the document-in-prompt exact match).
      const reworded = (name: string) => row('q_style', 'reworded', name)!.em.mean;
      expect(reworded('base + generated adapter (closed-book)')).toBeGreaterThanOrEqual(0.85 * reworded('base, document in prompt'));
    }
  }, 240000);
});
