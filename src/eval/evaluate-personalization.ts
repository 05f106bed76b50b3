/**
 * Evaluates a shipped image hypernetwork through the service's own code path: each held-out
 * subject's PNGs go through the API's preprocessing (sharp), the worker's inference threads
 * (generator forward, slicing, diffusers safetensors writer); the written file is read back and
 * applied through `base.onnx`; the samples are scored by the attribute classifier shipped in
 * `eval/`. Base and adapted samples start from the same seeded noise. Where the export ships
 * them, adapters generated from the subjects' coloured-background renders get their own row
 * (an adapter that looks at the background takes its colour).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildPixelTensors, preprocessImage } from '../conditioning/image-preprocess.js';
import { openScratchPool, SCRATCH_TENANT } from './scratch-pool.js';
import type { Logger } from '../logging/logger.js';
import type { LoadedModel } from '../models/model-registry.js';
import { AttributeClassifier, meanCosine, type Attributes } from './attribute-classifier.js';
import { BaseUnet } from '../runners/base-unet.js';
import { bootstrap, median } from './metrics.js';
import { loraFromSafetensors, type GroupLora } from '../runners/read-adapter.js';
import { gaussianNoise } from '../runners/seeded-noise.js';
import { composeGrid, type RgbImage } from '../runners/image-grid.js';
import { modelVersion } from '../models/manifest-schema.js';

export interface EvalSubject {
  id: string;
  shape: string;
  colour: string;
  pattern: string;
  images: string[];
  heldout: string[];
  /** The same subject's conditioning renders on strongly coloured backgrounds (the background-robustness row). */
  images_coloured?: string[];
}

export interface EvalSubjects {
  classifier: string;
  classes: string[];
  colours: string[];
  patterns: string[];
  samples_per_subject: number;
  subjects: EvalSubject[];
  /** PyTorch's adapter for subjects[0] (all its images): leading values of one module's A and B. */
  reference?: { module: string; lora_A_first: number[]; lora_B_first: number[] };
}

type Ci = { mean: number; lo: number; hi: number };
export const IMAGE_METRICS = ['attributes', 'match', 'shape', 'colour', 'pattern', 'similarity'] as const;
type Scores = Record<(typeof IMAGE_METRICS)[number], number>;

export interface ImageEvalRow {
  name: string;
  source: 'typescript' | 'pytorch';
  metrics: Record<(typeof IMAGE_METRICS)[number], Ci>;
  /** Median milliseconds to produce one adapter. */
  msPerAdapter?: number;
  forwardMs?: number;
}

export interface ImageEvalResult {
  model: string;
  subjects: number;
  samplesPerSubject: number;
  rows: ImageEvalRow[];
  /** Images of the grid: per subject, conditioning | base samples | adapted samples. */
  grid: RgbImage;
}

/** Loads `eval/subjects.json` of an image model. */
export function loadEvalSubjects(model: LoadedModel): EvalSubjects {
  return JSON.parse(readFileSync(path.join(model.dir, 'eval', 'subjects.json'), 'utf8')) as EvalSubjects;
}

function scoreSubject(samples: Attributes[], heldout: Attributes[], want: { shape: number; colour: number; pattern: number }): Scores {
  const frac = (f: (a: Attributes) => boolean) => samples.filter(f).length / samples.length;
  const shape = frac((a) => a.shape === want.shape);
  const colour = frac((a) => a.colour === want.colour);
  const pattern = frac((a) => a.pattern === want.pattern);
  return {
    attributes: (shape + colour + pattern) / 3,
    match: frac((a) => a.shape === want.shape && a.colour === want.colour && a.pattern === want.pattern),
    shape,
    colour,
    pattern,
    similarity: meanCosine(samples.map((a) => a.features), heldout.map((a) => a.features)),
  };
}

/** [N][H, W, 3] uint8 → [N, 3, H, W] in [0, 1] (the worker's tensor layout, unnormalised). */
const toChw = (rgb: Uint8Array[], size: [number, number]) => buildPixelTensors(rgb, size, rgb.length, [0, 0, 0], [1, 1, 1]).pixels;

/** Row names of {@link evaluatePersonalization}'s result. */
export const IMAGE_ROWS = {
  base: 'base (class prompt)',
  adapted: 'base + generated adapter',
  coloured: 'base + generated adapter, conditioning on coloured backgrounds',
  heldout: 'held-out renders (ceiling)',
} as const;

export async function evaluatePersonalization(model: LoadedModel, log: Logger, opts: { subjects?: number; batch?: number } = {}): Promise<ImageEvalResult> {
  const m = model.manifest;
  const c = m.condition;
  if (c.kind !== 'images' || !m.base?.diffusion) throw new Error(`${m.id} is not an evaluable image model`);
  const spec = loadEvalSubjects(model);
  const subjects = spec.subjects.slice(0, opts.subjects ?? spec.subjects.length);
  const S = spec.samples_per_subject;
  const [h, w] = c.size;
  const plane = h * w;
  const read = (file: string, label: string) =>
    preprocessImage(readFileSync(path.join(model.dir, 'eval', file)), { size: c.size, resize: c.resize, background: c.background }, { maxPixels: 40e6, label });

  const scratch = openScratchPool([model], log, { intraOpThreads: 2 });
  const { pool } = scratch;
  const adapters: GroupLora[] = [];
  const colouredAdapters: GroupLora[] = [];
  const totalMs: number[] = [];
  const forwardMs: number[] = [];
  const condRgb: Uint8Array[][] = [];
  const generate = async (id: string, rgb: Uint8Array[]) => {
    const t0 = performance.now();
    const { results, timings } = await pool.generate(m.id, [
      { tenant: SCRATCH_TENANT, adapterId: `ad_${'0'.repeat(40)}`, modelSha256: modelVersion(m), images: rgb.map((b) => Buffer.from(b).toString('base64')), options: { dtype: 'float32', format: 'diffusers' } },
    ]);
    const r = results[0]!;
    if (!r.ok) throw new Error(`generation failed for ${id}: ${r.error.message}`);
    const lora = loraFromSafetensors(model, scratch.read(`ad_${'0'.repeat(40)}`, 'pytorch_lora_weights.safetensors'), 'diffusers');
    return { lora, ms: performance.now() - t0, forwardMs: timings.forwardMs };
  };
  // Every subject ships coloured-background renders, or none does (older exports): the row is all or nothing.
  const coloured = subjects.every((s) => s.images_coloured?.length);
  try {
    await pool.ready();
    for (const s of subjects) {
      const rgb = await Promise.all(s.images.map((f, i) => read(f, `${s.id}.images[${i}]`)));
      condRgb.push(rgb);
      const g = await generate(s.id, rgb);
      totalMs.push(g.ms);
      forwardMs.push(g.forwardMs);
      adapters.push(g.lora);
      if (coloured) {
        const rgbC = await Promise.all(s.images_coloured!.map((f, i) => read(f, `${s.id}.images_coloured[${i}]`)));
        colouredAdapters.push((await generate(`${s.id} (coloured)`, rgbC)).lora);
      }
    }
  } finally {
    await scratch.close();
  }

  const unet = await BaseUnet.open(model);
  const clf = await AttributeClassifier.open(path.join(model.dir, 'eval', spec.classifier));
  const batch = opts.batch ?? 32;
  const zero = unet.zeroLora();
  const perRow: Record<keyof typeof IMAGE_ROWS, Scores[]> = { base: [], adapted: [], coloured: [], heldout: [] };
  const samplesFor = async (labels: number[], noise: Float32Array, loras: GroupLora[]) => {
    const out = new Float32Array(noise.length);
    for (let i = 0; i < labels.length; i += batch) {
      const j = Math.min(labels.length, i + batch);
      out.set(await unet.sample(labels.slice(i, j), noise.subarray(i * 3 * plane, j * 3 * plane), loras.slice(i, j)), i * 3 * plane);
    }
    return out;
  };
  const gridRows: Float32Array[][] = [];
  try {
    for (let si = 0; si < subjects.length; si++) {
      const s = subjects[si]!;
      const want = { shape: spec.classes.indexOf(s.shape), colour: spec.colours.indexOf(s.colour), pattern: spec.patterns.indexOf(s.pattern) };
      const labels = new Array<number>(S).fill(m.base.diffusion.classes.indexOf(s.shape));
      const noise = gaussianNoise(1000 + si, S * 3 * plane);
      const held = await Promise.all(s.heldout.map((f, i) => read(f, `${s.id}.heldout[${i}]`)));
      const heldAttrs = await clf.classify(toChw(held, c.size), held.length, c.size);
      const base = await samplesFor(labels, noise, labels.map(() => zero));
      const adapted = await samplesFor(labels, noise, labels.map(() => adapters[si]!));
      perRow.base.push(scoreSubject(await clf.classify(base, S, c.size), heldAttrs, want));
      perRow.adapted.push(scoreSubject(await clf.classify(adapted, S, c.size), heldAttrs, want));
      if (coloured) {
        const samples = await samplesFor(labels, noise, labels.map(() => colouredAdapters[si]!));
        perRow.coloured.push(scoreSubject(await clf.classify(samples, S, c.size), heldAttrs, want));
      }
      perRow.heldout.push(scoreSubject(heldAttrs, heldAttrs, want));
      const tile = (arr: Float32Array, k: number) => arr.subarray(k * 3 * plane, (k + 1) * 3 * plane);
      const show = Math.min(4, S);
      gridRows.push([
        ...condRgb[si]!.slice(0, 4).map((b) => toChw([b], c.size)),
        ...Array.from({ length: show }, (_, k) => tile(base, k)),
        ...Array.from({ length: show }, (_, k) => tile(adapted, k)),
      ]);
    }
  } finally {
    await unet.close();
    await clf.close();
  }
  const ci = (xs: Scores[]) => Object.fromEntries(IMAGE_METRICS.map((k) => [k, bootstrap(xs.map((x) => x[k]))])) as ImageEvalRow['metrics'];
  const rows: ImageEvalRow[] = [
    { name: IMAGE_ROWS.base, source: 'typescript', metrics: ci(perRow.base) },
    { name: IMAGE_ROWS.adapted, source: 'typescript', metrics: ci(perRow.adapted), msPerAdapter: median(totalMs), forwardMs: median(forwardMs) },
    ...(coloured ? [{ name: IMAGE_ROWS.coloured, source: 'typescript' as const, metrics: ci(perRow.coloured) }] : []),
    { name: IMAGE_ROWS.heldout, source: 'typescript', metrics: ci(perRow.heldout) },
  ];
  return { model: m.id, subjects: subjects.length, samplesPerSubject: S, rows, grid: composeGrid(gridRows, h, w) };
}

export function formatImageTable(result: ImageEvalResult, extra: ImageEvalRow[] = []): string {
  const pct = (x: Ci) => `${(100 * x.mean).toFixed(1)} [${(100 * x.lo).toFixed(1)}, ${(100 * x.hi).toFixed(1)}]`;
  const lines = [
    `${result.model}: ${result.subjects} held-out subjects × ${result.samplesPerSubject} samples. Attribute classifier reads (attribute match = mean of shape, colour, pattern read as the subject's); % [95% bootstrap CI over subjects]; time = median per adapter (batch 1, CPU).`,
    '',
    '| condition | attribute match | subject match (all three) | shape | colour | pattern | similarity to held-out | time per adapter | measured by |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  // the PyTorch rows go before the ceiling, the last row
  for (const r of [...result.rows.slice(0, -1), ...extra, ...result.rows.slice(-1)]) {
    const time = r.msPerAdapter === undefined ? '' : r.forwardMs === undefined ? `${(r.msPerAdapter / 1000).toFixed(2)} s` : `${r.msPerAdapter.toFixed(1)} ms (forward ${r.forwardMs.toFixed(1)} ms)`;
    const sim = `${r.metrics.similarity.mean.toFixed(3)} [${r.metrics.similarity.lo.toFixed(3)}, ${r.metrics.similarity.hi.toFixed(3)}]`;
    const cells = (['attributes', 'match', 'shape', 'colour', 'pattern'] as const).map((k) => pct(r.metrics[k]));
    lines.push(`| ${r.name} | ${cells.join(' | ')} | ${sim} | ${time} | ${r.source === 'pytorch' ? 'PyTorch (card eval)' : 'this run'} |`);
  }
  return lines.join('\n');
}
