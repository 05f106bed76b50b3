/**
 * POST /v1/personalizations, as a use case: subject images (from multipart parts or base64 JSON)
 * are validated against the model, decoded and resized to its input size, content-addressed by
 * their preprocessed pixels (the same photos re-uploaded give the same adapter), and submitted.
 * The original uploads are never stored; the preprocessed pixels travel in the queue payload,
 * which BullMQ drops when the job ends.
 */
import { AppError, zodDetails } from '../../errors/app-error.js';
import { adapterOptionsSchema, deployRequestSchema, metadataSchema, webhookSchema, type DeployRequest } from '../../jobs/payloads.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import { preprocessImage } from '../../conditioning/image-preprocess.js';
import { sha256Hex } from '../../store/canonical-hash.js';
import { z } from '../../validation/zod.js';
import { resolveOptions, submitGeneration, type SubmitDeps, type SubmitResult } from '../submit-generation/submit-generation.js';

export const createPersonalizationJsonSchema = z.strictObject({
  model: z.string().min(1).max(128),
  images: z.array(z.strictObject({ data: z.string().min(1).describe('base64 of a PNG, JPEG or WebP file') })).min(1).max(64),
  options: adapterOptionsSchema.optional(),
  webhook: webhookSchema.optional(),
  metadata: metadataSchema.optional(),
  deploy: z.array(deployRequestSchema).min(1).max(8).optional().describe('Deploy once it exists, as in POST /v1/adapters (the configured engines serve LLM LoRA: a diffusion adapter is a 422)'),
});

/** The multipart form's text fields (options and metadata are JSON strings). */
export const personalizationFieldsSchema = z.strictObject({
  model: z.string().min(1).max(128),
  options: z.string().optional(),
  metadata: z.string().optional(),
  webhook_url: z.string().optional(),
  webhook_events: z.string().optional(),
  /** JSON, as `deploy` of the JSON form. */
  deploy: z.string().optional(),
});

export interface PersonalizationDeps extends SubmitDeps {
  registry: ModelRegistry;
  maxImagePixels: number;
}

export interface PersonalizationRequest {
  model: string;
  images: Buffer[];
  options?: z.infer<typeof adapterOptionsSchema>;
  metadata?: Record<string, string>;
  webhook?: z.infer<typeof webhookSchema>;
  deploy?: DeployRequest[];
}

const invalid = (message: string, issues: Parameters<typeof zodDetails>[0]) => new AppError('invalid_request', message, { details: zodDetails(issues) });

function parseJsonField<T extends z.ZodType>(name: string, text: string | undefined, schema: T): z.infer<T> | undefined {
  if (text === undefined || text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('invalid_request', `Field "${name}" must be a JSON string.`, { details: [{ path: [name], message: 'not JSON' }] });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(`Field "${name}" does not match the schema.`, parsed.error.issues.map((i) => ({ ...i, path: [name, ...i.path] })));
  return parsed.data;
}

/** Turns the multipart form's fields and files into a request. */
export function fromMultipart(fields: Record<string, string>, files: Buffer[]): PersonalizationRequest {
  const parsed = personalizationFieldsSchema.safeParse(fields);
  if (!parsed.success) throw invalid('The form fields do not match the schema.', parsed.error.issues);
  const f = parsed.data;
  let webhook: z.infer<typeof webhookSchema> | undefined;
  if (f.webhook_url) {
    const events = f.webhook_events ? f.webhook_events.split(',').map((e) => e.trim()).filter(Boolean) : undefined;
    const w = webhookSchema.safeParse({ url: f.webhook_url, ...(events ? { events } : {}) });
    if (!w.success) throw invalid('webhook_url / webhook_events are invalid.', w.error.issues.map((i) => ({ ...i, path: ['webhook_' + String(i.path[0] ?? 'url'), ...i.path.slice(1)] })));
    webhook = w.data;
  }
  return {
    model: f.model,
    images: files,
    options: parseJsonField('options', f.options, adapterOptionsSchema),
    metadata: parseJsonField('metadata', f.metadata, metadataSchema),
    webhook,
    deploy: parseJsonField('deploy', f.deploy, z.array(deployRequestSchema).min(1).max(8)),
  };
}

/** Turns the JSON form (base64 images) into a request. */
export function fromJson(body: unknown): PersonalizationRequest {
  const parsed = createPersonalizationJsonSchema.safeParse(body);
  if (!parsed.success) throw invalid('The request body does not match the schema.', parsed.error.issues);
  const images = parsed.data.images.map((img, i) => {
    if (!/^[A-Za-z0-9+/\s]+={0,2}\s*$/.test(img.data)) throw new AppError('invalid_request', `images[${i}].data is not base64.`, { details: [{ path: ['images', i, 'data'], message: 'not base64' }] });
    return Buffer.from(img.data, 'base64');
  });
  return { ...parsed.data, images };
}

export async function createPersonalizationJob(
  deps: PersonalizationDeps,
  cmd: { tenant: string; request: PersonalizationRequest; idempotency?: { key: string; body: unknown }; waitSeconds?: number; signal?: AbortSignal },
): Promise<SubmitResult> {
  const req = cmd.request;
  const model = deps.registry.get(req.model);
  if (!model) throw new AppError('not_found', `No model named "${req.model.slice(0, 128)}". GET /v1/models lists them.`);
  const { manifest } = model;
  const c = manifest.condition;
  if (c.kind !== 'images') throw new AppError('invalid_request', `Model "${req.model}" takes text; use POST /v1/adapters.`, { details: [{ path: ['model'], message: 'text model' }] });
  if (req.images.length < c.min_images || req.images.length > c.max_images) {
    throw new AppError('unprocessable_input', `Model "${req.model}" takes ${c.min_images} to ${c.max_images} images; got ${req.images.length}.`, { details: [{ path: ['images'], message: 'image count' }] });
  }
  const options = resolveOptions(manifest, req.options);
  // Decoded concurrently in libuv's thread pool; the first bad image decides the answer.
  const pixels = await Promise.all(
    req.images.map((bytes, i) => preprocessImage(bytes, { size: c.size, resize: c.resize, background: c.background }, { maxPixels: deps.maxImagePixels, label: `images[${i}]` })),
  );
  return submitGeneration(deps, {
    tenant: cmd.tenant,
    manifest,
    options,
    hashInput: { images: pixels.map((p) => sha256Hex(p)).join(',') },
    condition: { kind: 'images', images: pixels.map((p) => Buffer.from(p).toString('base64')), size: c.size },
    metadata: req.metadata ?? {},
    webhook: req.webhook,
    deploy: req.deploy,
    idempotency: cmd.idempotency,
    removeOnFail: true,
    waitSeconds: cmd.waitSeconds,
    signal: cmd.signal,
  });
}
