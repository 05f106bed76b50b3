import { buffer } from 'node:stream/consumers';
import { Router, type Request } from 'express';
import sharp from 'sharp';
import { z } from '../../validation/zod.js';
import { AppError } from '../../errors/app-error.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import type { PreviewPool } from '../../preview/preview-pool.js';
import { fillPrompt } from '../../runners/answer.js';
import { adapterUnavailable } from '../../store/adapter-index.js';
import type { AdapterStore } from '../../store/adapter-store.js';
import { jsonBody } from '../json-body.js';
import { parseBody } from '../query.js';
import { requireJson } from '../request-context.js';
import type { TenantSlots } from '../tenant-slots.js';
import { modelVersion } from '../../models/manifest-schema.js';

export const previewRequestSchema = z
  .strictObject({
    prompt: z.string().min(1).max(4000).optional().describe('Text the base model continues, as is'),
    question: z.string().min(1).max(2000).optional().describe("Fills the model's closed-book prompt template (the evaluation's)"),
    max_tokens: z.number().int().min(1).max(256).optional().describe("Tokens to generate at most (default and cap: the model's max_new_tokens)"),
    compare_base: z.boolean().default(false).describe("Also answer with the base model alone (base_output)"),
  })
  .refine((b) => (b.prompt === undefined) !== (b.question === undefined), { message: 'give exactly one of prompt and question', path: ['prompt'] })
  .openapi('PreviewRequest');

export const samplesRequestSchema = z
  .strictObject({
    n: z.number().int().min(1).max(8).default(4).describe('Samples per row'),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(0).describe('Seeds the noise both rows start from: the same seed gives the same picture'),
    class: z.string().min(1).max(64).optional().describe("One of the model's sample_classes (GET /v1/models/{id}); default the first"),
    scale: z.number().int().min(1).max(8).default(4).describe('Each sample is drawn this many times larger (nearest neighbour)'),
  })
  .openapi('SamplesRequest');

export interface PreviewRoutesDeps {
  adapters: AdapterStore;
  registry: ModelRegistry;
  previews: PreviewPool;
  previewSlots: TenantSlots;
  maxBodyBytes: number;
}

/**
 * The adapter's record and model, checked for a preview of `kind`, and its weights file read
 * into memory (adapters of models with a base are small: the base's own LoRA inputs).
 */
async function previewable(deps: PreviewRoutesDeps, req: Request, kind: 'text' | 'images') {
  const id = String(req.params.id);
  const found = await deps.adapters.index.lookup(req.tenant, id, { touch: true });
  if (found.state !== 'ok') throw adapterUnavailable(id, found);
  const rec = found.entry.record;
  const model = deps.registry.get(rec.model);
  const base = model?.manifest.base;
  if (!model || modelVersion(model.manifest) !== rec.model_sha256) throw new AppError('unprocessable_input', `Adapter ${id} was made by a model version this server does not run; it cannot be previewed here.`);
  if (model.manifest.condition.kind !== kind || !base || (kind === 'text') === Boolean(base.diffusion)) {
    const what = kind === 'text' ? 'text base model to answer with' : 'diffusion base model to sample from';
    throw new AppError('unprocessable_input', `Model "${rec.model}" ships no ${what}; ${kind === 'text' ? 'generate' : 'samples'} previews ${kind === 'text' ? 'text' : 'image'} adapters only.`);
  }
  const want = kind === 'text' ? 'peft' : 'diffusers';
  if (rec.format !== want) throw new AppError('unprocessable_input', `Adapter ${id} is ${rec.format}; previews apply ${want} adapters.`);
  const weights = rec.files.find((f) => f.name.endsWith('.safetensors'));
  if (!weights || !(await deps.adapters.verifyFile(req.tenant, id, weights))) throw new AppError('unavailable', `Adapter ${id} cannot be read right now; retry shortly.`, { retryAfter: 1 });
  const read = async () => new Uint8Array(await buffer(await deps.adapters.blobs.open(req.tenant, id, weights.name)));
  return { id, rec, model, base, read };
}

/** Try an adapter at once: its model's base.onnx with the adapter applied, greedy decoding. */
export function previewRoutes(deps: PreviewRoutesDeps): Router {
  const r = Router();
  const body = jsonBody({ limit: deps.maxBodyBytes, type: () => true });
  r.post('/v1/adapters/:id/generate', requireJson(), ...body, async (req, res) => {
    const request = parseBody(previewRequestSchema, req.body);
    const { id, rec, model, base, read } = await previewable(deps, req, 'text');
    if (request.question !== undefined && !base.prompts?.closed_book) throw new AppError('unprocessable_input', `Model "${rec.model}" has no question template; send a prompt.`);
    const maxNew = Math.min(request.max_tokens ?? base.max_new_tokens ?? 8, base.max_new_tokens ?? 8);
    const prompt = request.question !== undefined ? fillPrompt(base.prompts!.closed_book!, { question: request.question }) : request.prompt!;
    const release = deps.previewSlots.take(req.tenant);
    try {
      const out = await deps.previews.generate({ modelId: model.manifest.id, prompt, adapter: await read(), maxNew, compareBase: request.compare_base });
      res.json({ object: 'preview', adapter_id: id, model: rec.model, prompt, output: out.output, ...(request.compare_base ? { base_output: out.baseOutput } : {}) });
    } finally {
      release();
    }
  });
  r.post('/v1/adapters/:id/samples', requireJson(), ...body, async (req, res) => {
    const request = parseBody(samplesRequestSchema, req.body);
    const { id, model, base, read } = await previewable(deps, req, 'images');
    const classes = base.diffusion!.classes;
    const cls = request.class ?? classes[0]!;
    const classIndex = classes.indexOf(cls);
    if (classIndex < 0) throw new AppError('invalid_request', `class must be one of ${classes.join(', ')} (got "${cls}").`, { details: [{ path: ['class'], message: 'unknown class' }] });
    const release = deps.previewSlots.take(req.tenant);
    try {
      const grid = await deps.previews.samples({ modelId: model.manifest.id, adapter: await read(), n: request.n, seed: request.seed, classIndex });
      // sharp encodes on libuv's pool, off the HTTP thread.
      const png = await sharp(Buffer.from(grid.rgb.buffer, grid.rgb.byteOffset, grid.rgb.byteLength), { raw: { width: grid.width, height: grid.height, channels: 3 } })
        .resize(grid.width * request.scale, grid.height * request.scale, { kernel: 'nearest' })
        .png()
        .toBuffer();
      res.set('X-Adapter-Id', id).set('Cache-Control', 'private, max-age=3600').type('image/png').send(png);
    } finally {
      release();
    }
  });
  return r;
}
