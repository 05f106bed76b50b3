import { buffer } from 'node:stream/consumers';
import { Router } from 'express';
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

export const previewRequestSchema = z
  .strictObject({
    prompt: z.string().min(1).max(4000).optional().describe('Text the base model continues, as is'),
    question: z.string().min(1).max(2000).optional().describe("Fills the model's closed-book prompt template (the evaluation's)"),
    max_tokens: z.number().int().min(1).max(256).optional().describe("Tokens to generate at most (default and cap: the model's max_new_tokens)"),
    compare_base: z.boolean().default(false).describe("Also answer with the base model alone (base_output)"),
  })
  .refine((b) => (b.prompt === undefined) !== (b.question === undefined), { message: 'give exactly one of prompt and question', path: ['prompt'] })
  .openapi('PreviewRequest');

export interface PreviewRoutesDeps {
  adapters: AdapterStore;
  registry: ModelRegistry;
  previews: PreviewPool;
  previewSlots: TenantSlots;
  maxBodyBytes: number;
}

/** Try an adapter at once: its model's base.onnx with the adapter applied, greedy decoding. */
export function previewRoutes(deps: PreviewRoutesDeps): Router {
  const r = Router();
  const body = jsonBody({ limit: deps.maxBodyBytes, type: () => true });
  r.post('/v1/adapters/:id/generate', requireJson(), ...body, async (req, res) => {
    const request = parseBody(previewRequestSchema, req.body);
    const id = String(req.params.id);
    const found = await deps.adapters.index.lookup(req.tenant, id, { touch: true });
    if (found.state !== 'ok') throw adapterUnavailable(id, found);
    const rec = found.entry.record;
    const model = deps.registry.get(rec.model);
    const base = model?.manifest.base;
    if (!model || model.manifest.sha256 !== rec.model_sha256) throw new AppError('unprocessable_input', `Adapter ${id} was made by a model version this server does not run; it cannot be previewed here.`);
    if (model.manifest.condition.kind !== 'text' || !base || base.diffusion) throw new AppError('unprocessable_input', `Model "${rec.model}" ships no text base model to preview its adapters with.`);
    if (rec.format !== 'peft') throw new AppError('unprocessable_input', `Adapter ${id} is ${rec.format}; previews apply PEFT adapters.`);
    if (request.question !== undefined && !base.prompts?.closed_book) throw new AppError('unprocessable_input', `Model "${rec.model}" has no question template; send a prompt.`);
    const maxNew = Math.min(request.max_tokens ?? base.max_new_tokens ?? 8, base.max_new_tokens ?? 8);
    const prompt = request.question !== undefined ? fillPrompt(base.prompts!.closed_book!, { question: request.question }) : request.prompt!;
    const weights = rec.files.find((f) => f.name === 'adapter_model.safetensors');
    if (!weights || !(await deps.adapters.verifyFile(req.tenant, id, weights))) throw new AppError('unavailable', `Adapter ${id} cannot be read right now; retry shortly.`, { retryAfter: 1 });
    const release = deps.previewSlots.take(req.tenant);
    try {
      const adapter = new Uint8Array(await buffer(await deps.adapters.blobs.open(req.tenant, id, weights.name)));
      const out = await deps.previews.generate({ modelId: model.manifest.id, prompt, adapter, maxNew, compareBase: request.compare_base });
      res.json({ object: 'preview', adapter_id: id, model: rec.model, prompt, output: out.output, ...(request.compare_base ? { base_output: out.baseOutput } : {}) });
    } finally {
      release();
    }
  });
  return r;
}
