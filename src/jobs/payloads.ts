/**
 * One zod schema per job payload, shared by the API (which validates requests and builds the
 * payload) and the worker (which re-parses `job.data`, because Redis holds whatever was written
 * there, possibly by an older or newer version of the service).
 */
import { z } from '../validation/zod.js';
import { DTYPES } from '../adapters/dtype.js';
import { FORMATS } from '../models/manifest-schema.js';

export const adapterOptionsSchema = z.strictObject({
  dtype: z.enum(DTYPES).optional().describe('Tensor dtype of the written adapter (default float32).'),
  format: z.enum(FORMATS).optional().describe("Adapter file layout (default: the model's default format)."),
});

export const metadataSchema = z
  .record(z.string().min(1).max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, 'metadata holds at most 16 keys');

export const WEBHOOK_EVENTS = ['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled', 'adapter.deployed', 'adapter.deploy_failed'] as const;

export const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
});

/** One deployment a request asks for up front (done when the adapter exists). */
export const deployRequestSchema = z.strictObject({
  target: z.string().min(1).max(64).describe('A deployment target the operator configured (DEPLOY_TARGETS_FILE)'),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/).optional().describe('The name the engine serves it under (default: the adapter id)'),
});
export type DeployRequest = z.infer<typeof deployRequestSchema>;

/** Body of `POST /v1/adapters`. */
export const createAdapterRequestSchema = z.strictObject({
  model: z.string().min(1).max(128),
  input: z.record(z.string().min(1).max(64), z.string()).describe('Text fields the model reads, e.g. {"context": "…"}.'),
  options: adapterOptionsSchema.optional(),
  webhook: webhookSchema.optional(),
  metadata: metadataSchema.optional(),
  deploy: z.array(deployRequestSchema).min(1).max(8).optional().describe('Deploy the adapter to these targets once it exists (events adapter.deployed / adapter.deploy_failed)'),
  extends: z.string().min(1).max(128).optional().describe("An adapter (ad_…) of the same model version to extend: the new adapter reads the parent's context followed by this input (models that can extend: GET /v1/models/{id})"),
});
export type CreateAdapterRequest = z.infer<typeof createAdapterRequestSchema>;

/** The resolved options every adapter is built with (defaults filled in, so they hash stably). */
export const resolvedOptionsSchema = z.strictObject({
  dtype: z.enum(DTYPES),
  format: z.enum(FORMATS),
});
export type ResolvedOptions = z.infer<typeof resolvedOptionsSchema>;

/** `job.data` of the generate queue. */
const generateJobBase = {
  v: z.literal(1),
  tenant: z.string().min(1).max(64),
  adapter_id: z.string().regex(/^ad_[0-9a-f]{40}$/),
  computation: z.string().regex(/^[0-9a-f]{40}$/),
  model: z.string().min(1),
  model_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  options: resolvedOptionsSchema,
  /** When the request came in (epoch ms): wait time counts from here, through any fair-queue wait. */
  queued_ms: z.number().int().nonnegative().optional(),
};

/** `job.data` of the generate queue: a text condition, or preprocessed subject images. */
export const generateJobSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...generateJobBase,
    kind: z.literal('text'),
    input: z.record(z.string(), z.string()),
    /** Chunked models: the adapter this one extends (its state file is read). */
    extends: z.string().regex(/^ad_[0-9a-f]{40}$/).optional(),
  }),
  z.strictObject({
    ...generateJobBase,
    kind: z.literal('images'),
    /** Each image as base64 of 8-bit RGB, [H, W, 3], already oriented, flattened and resized. */
    images: z.array(z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/)).min(1).max(64),
    size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  }),
]);
export type GenerateJob = z.infer<typeof generateJobSchema>;

/** Webhook bodies stay small: the Job links its adapter by URL instead of embedding it. */
export const MAX_WEBHOOK_BODY_BYTES = 20 * 1024;

/** `job.data` of the webhooks queue: one event for one URL, its body fixed when enqueued. */
export const webhookDeliveryJobSchema = z.strictObject({
  v: z.literal(1),
  tenant: z.string().min(1).max(64),
  job_id: z.string().regex(/^job_[0-9a-f]{24}$/),
  job_created_ms: z.number().int().nonnegative(),
  event: webhookSchema.shape.events.unwrap().element,
  webhook_id: z.string().regex(/^msg_[A-Za-z0-9_]{1,80}$/),
  url: z.string().min(1).max(2048),
  body: z.string().max(MAX_WEBHOOK_BODY_BYTES),
});
export type WebhookDeliveryJob = z.infer<typeof webhookDeliveryJobSchema>;

/** `job.data` of the deployments queue. */
export const deploymentJobSchema = z.strictObject({
  v: z.literal(1),
  action: z.enum(['deploy', 'undeploy']),
  tenant: z.string().min(1).max(64),
  adapter_id: z.string().regex(/^ad_[0-9a-f]{40}$/),
  name: deployRequestSchema.shape.name.unwrap(),
  target: z.string().min(1).max(64),
  /** The job that asked for it up front (its webhook gets the outcome). */
  job_id: z.string().regex(/^job_[0-9a-f]{24}$/).optional(),
});
export type DeploymentJob = z.infer<typeof deploymentJobSchema>;
