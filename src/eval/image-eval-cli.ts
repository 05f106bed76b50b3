/**
 * The image-model half of `npm run eval`: runs {@link evaluatePersonalization}, prints the card's
 * table (with the PyTorch-measured fine-tuning rows of `eval/card-eval.json` beside this run's
 * rows), and writes the JSON result and the PNG grid when asked.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Logger } from '../logging/logger.js';
import type { LoadedModel } from '../models/model-registry.js';
import { evaluatePersonalization, formatImageTable, IMAGE_METRICS, type ImageEvalRow } from './evaluate-personalization.js';

/** Subjects a `--quick` run evaluates (all samples per subject). */
export const QUICK_SUBJECTS = 8;

interface CardEval {
  n_subjects: number;
  rows: Record<string, Record<string, { mean: number; lo: number; hi: number } | number>>;
}

/** The fine-tuning rows of the PyTorch card evaluation, if the model ships one. */
export function pytorchFinetuneRows(model: LoadedModel): ImageEvalRow[] {
  const file = path.join(model.dir, 'eval', 'card-eval.json');
  if (!existsSync(file)) return [];
  const card = JSON.parse(readFileSync(file, 'utf8')) as CardEval;
  return Object.entries(card.rows)
    .filter(([name]) => name.startsWith('LoRA fine-tuning'))
    .map(([name, r]) => ({
      name: `${name} (DreamBooth-LoRA; first ${card.n_subjects} subjects)`,
      source: 'pytorch' as const,
      metrics: Object.fromEntries(IMAGE_METRICS.map((k) => [k, r[k]])) as ImageEvalRow['metrics'],
      msPerAdapter: 1000 * (r.seconds_per_adapter as number),
    }));
}

export async function runImageEval(model: LoadedModel, log: Logger, opts: { quick: boolean; json?: string; grid?: string }): Promise<void> {
  const t0 = Date.now();
  const result = await evaluatePersonalization(model, log, { subjects: opts.quick ? QUICK_SUBJECTS : undefined });
  console.log(formatImageTable(result, pytorchFinetuneRows(model)));
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s; subjects ${path.relative(process.cwd(), path.join(model.dir, 'eval', 'subjects.json'))})`);
  if (opts.grid) {
    const { rgb, width, height } = result.grid;
    await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } })
      .resize(width * 3, height * 3, { kernel: 'nearest' })
      .png()
      .toFile(opts.grid);
    console.log(`grid (per subject: 4 conditioning images | 4 base samples | 4 adapted samples): ${opts.grid}`);
  }
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ ...result, grid: undefined }, null, 2));
}
