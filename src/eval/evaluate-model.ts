/**
 * Evaluates a shipped text generator through the service's own code path: adapters are built by
 * the inference threads the worker uses (tokenizer, ONNX forward, slicing, safetensors writer),
 * read back from the written safetensors, applied through `base.onnx`, and greedy-decoded.
 */
import { performance } from 'node:perf_hooks';
import { openScratchPool, SCRATCH_TENANT } from './scratch-pool.js';
import type { Logger } from '../logging/logger.js';
import type { LoadedModel } from '../models/model-registry.js';
import type { Dtype } from '../adapters/dtype.js';
import { BaseLm } from '../runners/base-lm.js';
import { answer, fillPrompt } from '../runners/answer.js';
import { loraFromSafetensors, type GroupLora } from '../runners/read-adapter.js';
import { bootstrap, exactMatch, median, tokenF1 } from './metrics.js';

export interface EvalItem {
  context: string;
  question: string;
  answer: string;
  python_predictions?: { closed_book?: string; with_context?: string; adapter?: string };
}

export interface EvalRow {
  name: string;
  em: { mean: number; lo: number; hi: number };
  f1: { mean: number; lo: number; hi: number };
  /** Median milliseconds to produce one adapter (generator rows only). */
  msPerAdapter?: number;
  /** Median milliseconds of the ONNX forward pass alone. */
  forwardMs?: number;
  predictions: string[];
}

export interface EvalResult {
  model: string;
  items: number;
  rows: EvalRow[];
  /** Fraction of adapter predictions identical to the Python (torch) evaluation's, if known. */
  agreementWithPython: number | null;
}

const fill = fillPrompt;

export async function evaluateModel(model: LoadedModel, items: EvalItem[], log: Logger, opts: { dtype?: Dtype; batch?: number } = {}): Promise<EvalResult> {
  const m = model.manifest;
  if (m.condition.kind !== 'text' || !m.base?.prompts || !model.tokenizer) throw new Error(`${m.id} is not an evaluable text model`);
  const prompts = m.base.prompts;
  if (!prompts.closed_book || !prompts.with_context) throw new Error(`${m.id}: base.prompts needs closed_book and with_context`);
  const field = Object.keys(m.condition.fields)[0]!;
  const tok = model.tokenizer;
  const base = await BaseLm.open(model);
  const batch = opts.batch ?? 32;
  const golds = items.map((i) => i.answer);

  const decode = (promptTexts: string[], loras: GroupLora[]): Promise<string[]> => answer(base, tok, m, promptTexts, loras, { batch });
  const row = (name: string, predictions: string[], extra: Partial<EvalRow> = {}): EvalRow => ({
    name,
    em: bootstrap(predictions.map((p, i) => exactMatch(p, golds[i]!))),
    f1: bootstrap(predictions.map((p, i) => tokenF1(p, golds[i]!))),
    predictions,
    ...extra,
  });

  const zero = base.zeroLora();
  const zeros = items.map(() => zero);
  const closedPrompts = items.map((it) => fill(prompts.closed_book!, { question: it.question }));
  const rows: EvalRow[] = [];
  rows.push(row('base, closed-book', await decode(closedPrompts, zeros)));
  rows.push(row('base, document in prompt', await decode(items.map((it) => fill(prompts.with_context!, { context: it.context, question: it.question })), zeros)));

  // One adapter per distinct condition, each generated alone (batch 1) and timed.
  const scratch = openScratchPool([model], log, { intraOpThreads: 2 });
  const { pool } = scratch;
  const adapters = new Map<string, GroupLora>();
  const totalMs: number[] = [];
  const forwardMs: number[] = [];
  try {
    await pool.ready();
    for (const it of items) {
      const condition = field === 'question' ? it.question : it.context;
      if (adapters.has(condition)) continue;
      const t0 = performance.now();
      const { results, timings } = await pool.generate(m.id, [
        { tenant: SCRATCH_TENANT, adapterId: `ad_${'0'.repeat(40)}`, modelSha256: m.sha256, input: { [field]: condition.normalize('NFC') }, options: { dtype: opts.dtype ?? 'float32', format: 'peft' } },
      ]);
      totalMs.push(performance.now() - t0);
      forwardMs.push(timings.forwardMs);
      const r = results[0]!;
      if (!r.ok) throw new Error(`generation failed: ${r.error.message}`);
      adapters.set(condition, loraFromSafetensors(model, scratch.read(`ad_${'0'.repeat(40)}`, 'adapter_model.safetensors'), 'peft'));
    }
  } finally {
    await scratch.close();
  }
  const adapterPreds = await decode(closedPrompts, items.map((it) => adapters.get(field === 'question' ? it.question : it.context)!));
  rows.push(row('base + generated adapter (closed-book)', adapterPreds, { msPerAdapter: median(totalMs), forwardMs: median(forwardMs) }));
  await base.close();

  const known = items.map((it, i) => [it.python_predictions?.adapter, adapterPreds[i]] as const).filter(([p]) => p !== undefined);
  const agreement = known.length ? known.filter(([p, ts]) => exactMatch(p!, ts!) === 1).length / known.length : null;
  return { model: m.id, items: items.length, rows, agreementWithPython: agreement };
}

export function formatTable(result: EvalResult): string {
  const pct = (x: number) => (100 * x).toFixed(1);
  const lines = [
    `${result.model}: ${result.items} held-out questions. EM / token F1 in % [95% bootstrap CI]; time = median per adapter (batch 1, CPU).`,
    '',
    '| condition | EM | F1 | time per adapter |',
    '|---|---|---|---|',
  ];
  for (const r of result.rows) {
    const time = r.msPerAdapter === undefined ? '' : `${r.msPerAdapter.toFixed(1)} ms (forward ${r.forwardMs!.toFixed(1)} ms)`;
    lines.push(`| ${r.name} | ${pct(r.em.mean)} [${pct(r.em.lo)}, ${pct(r.em.hi)}] | ${pct(r.f1.mean)} [${pct(r.f1.lo)}, ${pct(r.f1.hi)}] | ${time} |`);
  }
  if (result.agreementWithPython !== null) lines.push('', `Adapter answers identical to the PyTorch evaluation's: ${pct(result.agreementWithPython)}%.`);
  return lines.join('\n');
}
