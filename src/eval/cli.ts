/**
 * `npm run eval -- --model <id> [--quick] [--sample FILE] [--json OUT [--predictions]] [--grid PNG] [--finetune]`
 * Reproduces a model card's table on the model's held-out sample through the service's code
 * path: text models on `eval-sample.json`, image models on `eval/subjects.json` (with `--grid`,
 * a PNG of conditioning | base samples | adapted samples per subject). `--finetune` also runs
 * the PyTorch script that measures the LoRA fine-tuning baselines (they need autograd; Debian's
 * python3-torch must be installed).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../logging/logger.js';
import { ModelRegistry } from '../models/model-registry.js';
import { evaluateModel, formatTable, type EvalItem } from './evaluate-model.js';
import { runImageEval } from './image-eval-cli.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    quick: { type: 'boolean', default: false },
    sample: { type: 'string' },
    json: { type: 'string' },
    /** Keep each row's predictions in the --json output (the preview tests compare against them). */
    predictions: { type: 'boolean', default: false },
    grid: { type: 'string' },
    finetune: { type: 'boolean', default: false },
  },
});
const config = loadConfig();
const log = createLogger('warn');
const registry = await ModelRegistry.load({ dirs: config.modelsDirs });
const id = values.model ?? config.defaultModel;
const model = registry.get(id);
if (!model) {
  process.stderr.write(`no model "${id}" (have: ${registry.list().map((m) => m.manifest.id).join(', ')})\n`);
  process.exit(2);
}
if (model.manifest.condition.kind === 'images') {
  await runImageEval(model, log, { quick: values.quick, json: values.json, grid: values.grid });
} else {
  const sampleFile = values.sample ?? path.join(model.dir, 'eval-sample.json');
  const sample = JSON.parse(readFileSync(sampleFile, 'utf8')) as { items: EvalItem[] };
  const items = values.quick ? quickItems(sample.items) : sample.items;
  const t0 = Date.now();
  const result = await evaluateModel(model, items, log);
  console.log(formatTable(result));
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s; sample ${path.relative(process.cwd(), sampleFile)})`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ ...result, rows: values.predictions ? result.rows : result.rows.map(({ predictions: _p, ...r }) => r) }, null, 2));
}
if (values.finetune) {
  const script = path.join(config.modelsDirs[0]!, 'training', model.manifest.condition.kind === 'images' ? 'eval_personalize.py' : 'eval_adapters.py');
  const args = model.manifest.condition.kind === 'images' ? [] : ['--model', id];
  const r = spawnSync('/usr/bin/python3', [script, ...args, ...(values.quick ? ['--quick'] : [])], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

/**
 * The --quick subset: the first 60 items; for a sample of long documents, 60 spread over the
 * window counts (half single-window, the rest shared by the longer ones), so the quick run
 * still tests how windows combine.
 */
function quickItems(items: EvalItem[]): EvalItem[] {
  const counts = [...new Set(items.map((it) => it.n_windows ?? 1))].sort((a, b) => a - b);
  if (counts.length < 2) return items.slice(0, 60);
  const per = (n: number) => (n === counts[0] ? 30 : Math.floor(30 / (counts.length - 1)));
  return counts.flatMap((n) => items.filter((it) => (it.n_windows ?? 1) === n).slice(0, per(n)));
}
