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
import { packWindows } from '../conditioning/text-windows.js';
import { modelVersion } from '../models/manifest-schema.js';

export interface EvalItem {
  context: string;
  question: string;
  answer: string;
  python_predictions?: { closed_book?: string; with_context?: string; adapter?: string; first_window_only?: string };
  /** Long documents (chunked models): windows of the context, and the one stating the answer. */
  n_windows?: number;
  /** The window (0-based) stating the answer. */
  window?: number;
  oracle_window?: string;
  /** How the fact and the question are worded (template, reworded, …), and what is asked. */
  fact_style?: string;
  q_style?: string;
  attr?: string;
}

/**
 * What the breakdown groups by: window count, where the answer is in a long document (window 1
 * or later: what truncation loses), wording, attribute.
 */
export type BreakdownKey = 'n_windows' | 'answer_window' | 'fact_style' | 'q_style' | 'attr';
const BREAKDOWN_KEYS: readonly BreakdownKey[] = ['n_windows', 'answer_window', 'fact_style', 'q_style', 'attr'];

/** The group of an item, or undefined when the item has no value for that key. */
function groupOf(it: EvalItem, by: BreakdownKey): string | undefined {
  if (by !== 'answer_window') return it[by] === undefined ? undefined : String(it[by]);
  if ((it.n_windows ?? 1) <= 1 || it.window === undefined) return undefined;
  return it.window === 0 ? 'window 1' : 'later windows';
}

/** EM of one row over a group of items. */
export interface EvalBreakdown {
  by: BreakdownKey;
  group: string;
  row: string;
  n: number;
  em: { mean: number; lo: number; hi: number };
  /** Median milliseconds per adapter of the group (adapter rows grouped by window count). */
  msPerAdapter?: number;
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
  breakdown: EvalBreakdown[];
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
  // A long document does not fit the base's prompt: it reads the window that states the answer.
  const long = items.some((it) => (it.n_windows ?? 1) > 1);
  rows.push(row(long ? 'base, document in prompt (oracle window for long documents)' : 'base, document in prompt', await decode(items.map((it) => fill(prompts.with_context!, { context: it.oracle_window ?? it.context, question: it.question })), zeros)));

  // One adapter per distinct condition, each generated alone (batch 1) and timed.
  const scratch = openScratchPool([model], log, { intraOpThreads: 2 });
  const { pool } = scratch;
  const adapters = new Map<string, GroupLora>();
  const msOf = new Map<string, number>();
  const totalMs: number[] = [];
  const forwardMs: number[] = [];
  try {
    await pool.ready();
    for (const it of items) {
      const condition = field === 'question' ? it.question : it.context;
      if (adapters.has(condition)) continue;
      const t0 = performance.now();
      const { results, timings } = await pool.generate(m.id, [
        { tenant: SCRATCH_TENANT, adapterId: `ad_${'0'.repeat(40)}`, modelSha256: modelVersion(m), input: { [field]: condition.normalize('NFC') }, options: { dtype: opts.dtype ?? 'float32', format: 'peft' } },
      ]);
      totalMs.push(performance.now() - t0);
      msOf.set(condition, performance.now() - t0);
      forwardMs.push(timings.forwardMs);
      const r = results[0]!;
      if (!r.ok) throw new Error(`generation failed: ${r.error.message}`);
      adapters.set(condition, loraFromSafetensors(model, scratch.read(`ad_${'0'.repeat(40)}`, 'adapter_model.safetensors'), 'peft'));
    }
    // What truncation would give: an adapter of the first window alone.
    for (const it of items) {
      if ((it.n_windows ?? 1) <= 1 || !m.chunking || adapters.has(firstWindow(it))) continue;
      const first = firstWindow(it);
      const { results } = await pool.generate(m.id, [
        { tenant: SCRATCH_TENANT, adapterId: `ad_${'1'.repeat(40)}`, modelSha256: modelVersion(m), input: { [field]: first }, options: { dtype: opts.dtype ?? 'float32', format: 'peft' } },
      ]);
      if (!results[0]!.ok) throw new Error(`generation failed: ${results[0]!.error.message}`);
      adapters.set(first, loraFromSafetensors(model, scratch.read(`ad_${'1'.repeat(40)}`, 'adapter_model.safetensors'), 'peft'));
    }
  } finally {
    await scratch.close();
  }
  const adapterPreds = await decode(closedPrompts, items.map((it) => adapters.get(field === 'question' ? it.question : it.context)!));
  rows.push(row('base + generated adapter (closed-book)', adapterPreds, { msPerAdapter: median(totalMs), forwardMs: median(forwardMs) }));
  const multi = items.map((it, i) => [it, i] as const).filter(([it]) => (it.n_windows ?? 1) > 1);
  const firstPreds = multi.length ? await decode(multi.map(([, i]) => closedPrompts[i]!), multi.map(([it]) => adapters.get(firstWindow(it))!)) : [];
  await base.close();

  // Per group: EM of each row (first-window-only over multi-window documents only).
  const breakdown: EvalBreakdown[] = [];
  const firstOf = new Map(multi.map(([, i], k) => [i, firstPreds[k]!]));
  const named: [string, (i: number) => string | undefined][] = [
    ...rows.map((r) => [r.name, (i: number) => r.predictions[i]] as [string, (i: number) => string | undefined]),
    ['first window only (adapter)', (i: number) => firstOf.get(i)],
  ];
  for (const by of BREAKDOWN_KEYS) {
    const groups = new Map<string, number[]>();
    items.forEach((it, i) => {
      const g = groupOf(it, by);
      if (g !== undefined) groups.set(g, [...(groups.get(g) ?? []), i]);
    });
    if (groups.size < 2 && by !== 'n_windows') continue;
    // The truncation baseline only means something where documents are long.
    const withFirst = by === 'n_windows' || by === 'answer_window';
    for (const [group, idx] of [...groups].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) {
      for (const [name, pred] of named) {
        const scored = idx.filter((i) => pred(i) !== undefined);
        if (scored.length === 0 || (!withFirst && name.startsWith('first window'))) continue;
        const ms = by === 'n_windows' && name.startsWith('base + generated') ? median(idx.map((i) => msOf.get(condKey(items[i]!))!).filter((x) => x !== undefined)) : undefined;
        breakdown.push({ by, group, row: name, n: scored.length, em: bootstrap(scored.map((i) => exactMatch(pred(i)!, golds[i]!))), ...(ms !== undefined ? { msPerAdapter: ms } : {}) });
      }
    }
  }

  const known = items.map((it, i) => [it.python_predictions?.adapter, adapterPreds[i]] as const).filter(([p]) => p !== undefined);
  const agreement = known.length ? known.filter(([p, ts]) => exactMatch(p!, ts!) === 1).length / known.length : null;
  return { model: m.id, items: items.length, rows, agreementWithPython: agreement, breakdown };

  function condKey(it: EvalItem): string {
    return field === 'question' ? it.question : it.context;
  }
  /** The text of a document's first window (the service's packing), for the truncation baseline. */
  function firstWindow(it: EvalItem): string {
    const spec = (m.condition as { fields: Record<string, { max_tokens: number }> }).fields[field]!;
    return tok.decode(packWindows(tok.encode(it.context.normalize('NFC')), spec.max_tokens, tok.sentenceEnds())[0] ?? []);
  }
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
  for (const by of BREAKDOWN_KEYS) {
    const part = result.breakdown.filter((b) => b.by === by);
    if (part.length === 0) continue;
    lines.push('', `By ${by}: EM % [95% CI] (n)`, '', '| group | condition | EM | n | time per adapter |', '|---|---|---|---|---|');
    for (const b of part) lines.push(`| ${b.group} | ${b.row} | ${pct(b.em.mean)} [${pct(b.em.lo)}, ${pct(b.em.hi)}] | ${b.n} | ${b.msPerAdapter === undefined ? '' : `${b.msPerAdapter.toFixed(1)} ms`} |`);
  }
  return lines.join('\n');
}
