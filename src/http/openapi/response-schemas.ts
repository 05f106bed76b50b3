/**
 * Zod schemas of the API's response bodies (api-v1.md). They feed the OpenAPI document, and the
 * integration tests validate real responses against the generated spec, so the spec cannot
 * silently drift from behaviour.
 */
import { z } from '../../validation/zod.js';
import { JOB_STATUSES } from '../../store/job-view.js';

const iso = z.string().describe('ISO 8601 UTC time');

export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(['invalid_request', 'unauthorized', 'not_found', 'conflict', 'gone', 'payload_too_large', 'unsupported_media_type', 'unprocessable_input', 'rate_limited', 'internal_error', 'unavailable', 'insufficient_storage']),
    message: z.string().describe('A human sentence; for 500s it quotes the error id.'),
    details: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string(), code: z.string().optional() })).optional(),
    error_id: z.string().optional().describe('Only on 500: the id under which the server logged the error.'),
  }),
});

export const jobSchema = z.object({
  id: z.string().regex(/^job_[0-9a-f]{24}$/),
  object: z.literal('job'),
  kind: z.enum(['text', 'images']),
  model: z.string(),
  status: z.enum(JOB_STATUSES),
  progress: z.number().min(0).max(1),
  cached: z.boolean().describe('True when the adapter came from the cache without running the generator.'),
  adapter_id: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  metadata: z.record(z.string(), z.string()),
  created_at: iso,
  started_at: iso.nullable(),
  finished_at: iso.nullable(),
  urls: z.object({ self: z.string(), events: z.string(), cancel: z.string(), adapter: z.string().nullable() }),
});

export const adapterFileSchema = z.object({ name: z.string(), bytes: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) });

export const adapterSchema = z.object({
  id: z.string().regex(/^ad_[0-9a-f]{40}$/),
  object: z.literal('adapter'),
  model: z.string(),
  model_sha256: z.string(),
  format: z.enum(['peft', 'diffusers', 'kohya']),
  base_model: z.string(),
  r: z.number().int(),
  lora_alpha: z.number(),
  use_rslora: z.boolean(),
  target_modules: z.array(z.string()),
  dtype: z.enum(['float32', 'float16', 'bfloat16']),
  files: z.array(adapterFileSchema),
  created_at: iso,
  warnings: z.array(z.string()).optional().describe('e.g. a rank vLLM does not accept'),
  extends: z.string().nullable().describe('The adapter this one extends (POST /v1/adapters with extends), or null'),
  context_tokens: z.number().int().nullable().describe('Chunked models: tokens of context the adapter has read, through every ancestor; null for other models'),
  location: z.string().optional().describe('With the S3 store (STORE_URL=s3://…): s3://bucket/prefix/tenant/id/, the directory LoRAX loads with adapter_source "s3"'),
  bytes: z.number().int().describe("Bytes of all its files: what it counts against the tenant's storage quota"),
  pinned: z.boolean().describe('Pinned adapters never expire and are never evicted (PATCH to change)'),
  last_used_at: iso.describe('Creation or last use: a cache hit, a download'),
  expires_at: iso.nullable().describe('last_used_at + ADAPTER_TTL_SECONDS; null when pinned. After it the id answers 410 and the same request regenerates it'),
  urls: z.object({ self: z.string(), archive: z.string(), files: z.record(z.string(), z.string()) }),
});

export const usageSchema = z.object({
  object: z.literal('usage'),
  tenant: z.string(),
  adapters: z.number().int().describe('Stored adapters'),
  stored_bytes: z.number().int(),
  pinned_bytes: z.number().int().describe('Bytes of pinned adapters: never evicted, so new work is refused (507) when they fill the quota'),
  quota_bytes: z.number().int().nullable().describe('null: unlimited'),
  available_bytes: z.number().int().nullable().describe('quota_bytes - stored_bytes (eviction makes room beyond it); null: unlimited'),
  adapter_ttl_seconds: z.number().describe('An unpinned adapter expires this long after its last use'),
}).openapi('Usage');

export const modelSchema = z.object({
  id: z.string(),
  object: z.literal('model'),
  kind: z.enum(['text', 'images']),
  method: z.string(),
  version: z.string(),
  description: z.string(),
  inputs: z.record(z.string(), z.unknown()).describe('For text models the fields a request fills, with limits; for image models the image count and size.'),
  base_model: z.string(),
  base_model_revision: z.string().nullable(),
  lora: z.object({ r: z.number().int(), lora_alpha: z.number(), use_rslora: z.boolean(), target_modules: z.array(z.string()) }),
  formats: z.array(z.string()),
  default_format: z.string(),
  context: z
    .object({
      window_tokens: z.number().int().describe('Tokens per window (the text field\'s max_tokens)'),
      max_chunks: z.number().int(),
      max_tokens: z.number().int().describe('The most context tokens one adapter reads, with its ancestors: window × max_chunks, capped by the server\'s MAX_CONTEXT_TOKENS'),
      mode: z.literal('additive-state'),
      can_extend: z.boolean().describe('POST /v1/adapters accepts extends for this model'),
    })
    .nullable()
    .describe('Long contexts, for models that read them window by window; null for others'),
  preview: z.enum(['generate', 'samples']).nullable().describe('How its adapters can be tried at once: generate = POST /v1/adapters/{id}/generate (the model ships a text base); samples = POST /v1/adapters/{id}/samples (it ships a diffusion base); null = none'),
  sample_classes: z.array(z.string()).nullable().describe('The classes a samples preview can draw (its class field); null unless preview is samples'),
  limits: z.record(z.string(), z.number()),
  sha256: z.string(),
});

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ object: z.literal('list'), data: z.array(item), has_more: z.boolean(), next_cursor: z.string().nullable() });

export const modelListSchema = z.object({ object: z.literal('list'), data: z.array(modelSchema) });

export const healthSchema = z.object({ status: z.literal('ok') });
export const readySchema = z.object({ status: z.literal('ready'), checks: z.object({ accepting: z.boolean(), redis: z.boolean(), models: z.number() }) });

export const webhookSecretSchema = z.object({ secret: z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/) });

export const deliverySchema = z.object({
  id: z.string().regex(/^whd_/),
  event: z.enum(['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled']),
  webhook_id: z.string().describe('The webhook-id header: the same on every attempt of one event.'),
  url: z.string(),
  attempt: z.number().int().min(1),
  status_code: z.number().int().nullable().describe('null when no response came'),
  error: z.string().nullable(),
  at: iso,
  next_attempt_at: iso.nullable().describe('null when there will be no further attempt'),
});

export const deliveryListSchema = z.object({ object: z.literal('list'), data: z.array(deliverySchema) });

export const webhookEventSchema = z.object({
  type: z.enum(['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled']),
  timestamp: iso,
  data: jobSchema,
});

export const deploymentSchema = z.object({
  object: z.literal('deployment'),
  adapter_id: z.string(),
  target: z.string().describe('The operator-configured target (DEPLOY_TARGETS_FILE)'),
  kind: z.enum(['vllm', 'sglang', 'vllm-resolver']),
  name: z.string().describe('The name the engine serves the adapter under'),
  status: z.enum(['pending', 'loaded', 'failed', 'unloading']),
  lora_path: z.string().describe('The directory the engine reads'),
  error: z.string().nullable().describe("The engine's answer (or ours) when a try failed"),
  attempts: z.number().int(),
  created_at: iso,
  updated_at: iso,
}).openapi('Deployment');

export const deployEventSchema = z.object({
  type: z.enum(['adapter.deployed', 'adapter.deploy_failed']),
  timestamp: iso,
  data: deploymentSchema.extend({ job_id: z.string().describe('The job whose request asked for the deployment') }),
});

export const previewSchema = z.object({
  object: z.literal('preview'),
  adapter_id: z.string(),
  model: z.string(),
  prompt: z.string().describe('The prompt the base model read (a question filled into the template)'),
  output: z.string().describe('What the base model with the adapter answers (greedy)'),
  base_output: z.string().optional().describe('What the base model alone answers (compare_base)'),
}).openapi('Preview');
