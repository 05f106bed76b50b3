/**
 * Builds the OpenAPI 3.1 document from the zod schemas the server validates with (request
 * bodies, query strings) and the response schemas. `npm run spec` writes it to
 * api-spec/openapi.json; a test fails when the committed file and this code disagree.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from '../../validation/zod.js';
import { createAdapterRequestSchema, deployRequestSchema } from '../../jobs/payloads.js';
import { adaptersListQuery, archiveQuery, updateAdapterSchema } from '../routes/adapters-routes.js';
import { previewRequestSchema, samplesRequestSchema } from '../routes/preview-routes.js';
import { jobsListQuery } from '../routes/jobs-routes.js';
import { createPersonalizationJsonSchema, personalizationFieldsSchema } from '../../usecases/create-personalization-job/create-personalization-job.js';
import { adapterSchema, deliveryListSchema, errorBodySchema, healthSchema, jobSchema, listOf, modelListSchema, modelSchema, readySchema, usageSchema, deploymentSchema, deployEventSchema, previewSchema, webhookEventSchema, webhookSecretSchema } from './response-schemas.js';

type Status = 400 | 401 | 404 | 409 | 410 | 413 | 415 | 422 | 429 | 503 | 507;
const ERROR_TEXT: Record<Status, string> = {
  400: 'invalid_request: malformed JSON or a schema violation (details carry zod issue paths)',
  401: 'unauthorized: missing or unknown API key',
  404: 'not_found: unknown (or another tenant\'s) id, model or file',
  409: 'conflict',
  410: 'gone: the adapter expired, was evicted under the storage quota, or its files were lost; posting the same request regenerates it under the same id',
  413: 'payload_too_large: the limit is in the message',
  415: 'unsupported_media_type',
  422: 'unprocessable_input: well-formed but unusable',
  429: 'rate_limited (with Retry-After): requests per second, active jobs, or this tenant\'s open event streams / waiting requests on one API process',
  503: 'unavailable: the queue store is unreachable (with Retry-After)',
  507: "insufficient_storage: the tenant's pinned adapters fill its storage quota; the message says how much is stored and pinned",
};

const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' as const } } };
const requestId = { 'X-Request-Id': { description: 'The request id (echoed when the client sent a sane one), also in every log line.', schema: { type: 'string' as const } } };

function errors(...statuses: Status[]) {
  const out: Record<number, { description: string; headers?: object; content: { 'application/json': { schema: typeof errorBodySchema } } }> = {};
  for (const s of [...statuses, 401, 503] as Status[]) {
    out[s] = {
      description: ERROR_TEXT[s],
      ...(s === 429 || s === 503 ? { headers: { ...retryAfter, ...requestId } } : { headers: requestId }),
      content: { 'application/json': { schema: errorBodySchema } },
    };
  }
  return out;
}

const json = <T extends z.ZodType>(schema: T, description: string, headers: object = {}) => ({
  description,
  headers: { ...requestId, ...headers },
  content: { 'application/json': { schema } },
});

const jobId = z.object({ id: z.string().describe('Job id (job_…)') });
const adapterId = z.object({ id: z.string().describe('Adapter id (ad_…)') });

export function buildSpec(): object {
  const r = new OpenAPIRegistry();
  const Job = r.register('Job', jobSchema);
  const Adapter = r.register('Adapter', adapterSchema);
  const Model = r.register('Model', modelSchema);
  const ErrorBody = r.register('Error', errorBodySchema);
  const CreateAdapter = r.register('CreateAdapterRequest', createAdapterRequestSchema);
  void ErrorBody;
  r.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'An API key (API_KEYS). Optional when the server runs open on a loopback address.' });
  const security = [{ bearer: [] }];
  const location = { Location: { description: 'The job: /v1/jobs/{id}', schema: { type: 'string' as const } } };

  r.registerPath({ method: 'get', path: '/healthz', summary: 'Process is up', responses: { 200: json(healthSchema, 'Up.') } });
  r.registerPath({
    method: 'get', path: '/readyz', summary: 'Redis reachable, models loaded, not shutting down',
    responses: { 200: json(readySchema, 'Ready.'), 503: { description: 'Not ready (or shutting down).', headers: retryAfter, content: { 'application/json': { schema: errorBodySchema } } } },
  });
  r.registerPath({ method: 'get', path: '/v1/models', summary: 'List the generators this server runs', security, responses: { 200: json(modelListSchema, 'The models.'), ...errors() } });
  r.registerPath({ method: 'get', path: '/v1/models/{id}', summary: 'One model', security, request: { params: z.object({ id: z.string() }) }, responses: { 200: json(Model, 'The model.'), ...errors(404) } });
  r.registerPath({
    method: 'post', path: '/v1/adapters', summary: 'Generate an adapter from text (context, question)', security,
    description: 'Identical requests (same tenant, model version, canonical input and options) map to one adapter id; concurrent identical requests share one computation; a cached adapter answers 200 at once with cached: true.',
    request: {
      headers: z.object({
        prefer: z.string().optional().describe('`wait=N` (1 ≤ N ≤ 60): hold the request up to N s; 200 if the job ends in time, else 202.'),
        'idempotency-key': z.string().max(255).optional().describe('Same key + same body within 24 h → the same job; another body → 409.'),
      }),
      body: { required: true, content: { 'application/json': { schema: CreateAdapter } } },
    },
    responses: {
      200: json(Job, 'The job has ended: a cache hit (cached: true), or it finished within Prefer: wait.', { ...location, 'Preference-Applied': { description: 'wait=N when Prefer: wait was honoured', schema: { type: 'string' } } }),
      202: json(Job, 'Accepted; poll the job or follow its events.', { ...location, 'Preference-Applied': { description: 'wait=N when Prefer: wait was honoured', schema: { type: 'string' } } }),
      ...errors(400, 404, 409, 413, 415, 422, 429, 507),
    },
  });
  r.registerPath({
    method: 'post', path: '/v1/personalizations', summary: 'Generate a diffusion LoRA from subject images', security,
    description: 'multipart/form-data with `model`, one or more `images` file parts (PNG, JPEG, WebP; decided by their bytes), optional `options` and `metadata` (JSON strings), `webhook_url` and `webhook_events` (comma-separated); or application/json with base64 images. The same images (after decoding and resizing) give the same adapter id. Answers exactly as POST /v1/adapters.',
    request: {
      headers: z.object({ prefer: z.string().optional(), 'idempotency-key': z.string().max(255).optional() }),
      body: {
        required: true,
        content: {
          'multipart/form-data': { schema: personalizationFieldsSchema.extend({ images: z.array(z.string().openapi({ format: 'binary' })).min(1) }) },
          'application/json': { schema: r.register('CreatePersonalizationRequest', createPersonalizationJsonSchema) },
        },
      },
    },
    responses: {
      200: json(Job, 'The job has ended (cache hit, or finished within Prefer: wait).', location),
      202: json(Job, 'Accepted.', location),
      ...errors(400, 404, 409, 413, 415, 422, 429, 507),
    },
  });
  r.registerPath({ method: 'get', path: '/v1/jobs', summary: 'List jobs, newest first', security, request: { query: jobsListQuery }, responses: { 200: json(listOf(Job), 'A page of jobs.'), ...errors(400) } });
  r.registerPath({ method: 'get', path: '/v1/jobs/{id}', summary: 'One job', security, request: { params: jobId }, responses: { 200: json(Job, 'The job.'), ...errors(404) } });
  r.registerPath({ method: 'post', path: '/v1/jobs/{id}/cancel', summary: 'Cancel a job that has not ended', security, request: { params: jobId }, responses: { 200: json(Job, 'The canceled job.'), ...errors(404, 409) } });
  r.registerPath({ method: 'get', path: '/v1/adapters', summary: 'List adapters, newest first (expired ones are not listed)', security, request: { query: adaptersListQuery }, responses: { 200: json(listOf(Adapter), 'A page of adapters.'), ...errors(400) } });
  r.registerPath({ method: 'get', path: '/v1/adapters/{id}', summary: 'One adapter (reading it is not a use: expires_at does not move)', security, request: { params: adapterId }, responses: { 200: json(Adapter, 'The adapter.'), ...errors(404, 410) } });
  r.registerPath({
    method: 'patch', path: '/v1/adapters/{id}', summary: 'Pin or unpin an adapter', security,
    description: 'A pinned adapter never expires and is never evicted (expires_at: null); it still counts against the storage quota. Unpinning counts as a use. The id does not change.',
    request: { params: adapterId, body: { required: true, content: { 'application/json': { schema: updateAdapterSchema } } } },
    responses: { 200: json(Adapter, 'The adapter.'), ...errors(400, 404, 410, 415) },
  });
  r.registerPath({ method: 'delete', path: '/v1/adapters/{id}', summary: 'Delete an adapter and its files', security, request: { params: adapterId }, responses: { 204: { description: 'Deleted.' }, ...errors(404, 410) } });
  const Deployment = r.register('Deployment', deploymentSchema);
  const deploymentName = z.object({ id: z.string().describe('Adapter id (ad_…)'), name: z.string().describe('The deployment name') });
  r.registerPath({
    method: 'post', path: '/v1/adapters/{id}/deployments', summary: 'Deploy an adapter to a serving engine (vLLM, SGLang, a vLLM resolver directory)', security,
    description: 'Publishes the adapter where the target engine reads it (atomically, hard-linked) and calls its runtime loading API; retried with backoff while the engine is down. 202: follow the status with GET. 404: no such target for this tenant; 409: another adapter holds the name there; 422: the engine could not load it (format, rank over the target\'s max_lora_rank, another architecture).',
    request: { params: adapterId, body: { required: true, content: { 'application/json': { schema: r.register('DeployRequest', deployRequestSchema) } } } },
    responses: { 202: json(Deployment, 'Queued (status pending).'), ...errors(400, 404, 409, 410, 415, 422) },
  });
  r.registerPath({ method: 'get', path: '/v1/adapters/{id}/deployments', summary: "An adapter's deployments", security, request: { params: adapterId }, responses: { 200: json(listOf(Deployment), 'The deployments.'), ...errors(404, 410) } });
  r.registerPath({ method: 'delete', path: '/v1/adapters/{id}/deployments/{name}', summary: 'Unload and unpublish a deployment', security, request: { params: deploymentName }, responses: { 202: json(Deployment, 'Queued (status unloading); the record goes once the engine has unloaded it.'), ...errors(404) } });
  r.registerPath({
    method: 'post', path: '/v1/adapters/{id}/generate', summary: "Try an adapter: its model's base with the adapter applied, greedy decoding", security,
    description: "For adapters of text models that ship a base (GET /v1/models/{id}: preview = generate). `question` fills the model's closed-book template — the answer is the one `npm run eval` measures; `prompt` is continued as is. Runs in a preview thread, batched with other previews; 429 when too many wait, 503 when one does not finish in time (both with Retry-After); 422 for an adapter whose model ships no base.",
    request: { params: adapterId, body: { required: true, content: { 'application/json': { schema: previewRequestSchema } } } },
    responses: { 200: json(previewSchema, 'The answer (and the base model\'s, with compare_base).'), ...errors(400, 404, 410, 415, 422, 429) },
  });
  r.registerPath({
    method: 'post', path: '/v1/adapters/{id}/samples', summary: "Try an image adapter: a PNG grid, the base's samples over the adapted model's", security,
    description: "For adapters of image models that ship a diffusion base (GET /v1/models/{id}: preview = samples, classes in sample_classes). Row 1: n samples of the class from the base; row 2: the same n from the same noise with the adapter applied. Deterministic for a seed. Runs in the preview thread; 429 when too many previews wait, 503 when one does not finish in time (both with Retry-After); 422 for an adapter whose model ships no diffusion base; 400 for an unknown class.",
    request: { params: adapterId, body: { required: true, content: { 'application/json': { schema: samplesRequestSchema } } } },
    responses: { 200: { description: 'The grid.', headers: requestId, content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }, ...errors(400, 404, 410, 415, 422, 429) },
  });
  r.registerPath({ method: 'get', path: '/v1/usage', summary: "The tenant's adapter storage: stored and pinned bytes, count, quota", security, responses: { 200: json(usageSchema, 'The usage.'), ...errors() } });
  const fileHeaders = {
    ...requestId,
    ETag: { description: 'The file\'s sha256, quoted.', schema: { type: 'string' as const } },
    'Cache-Control': { description: 'private, max-age=31536000, immutable', schema: { type: 'string' as const } },
    'Accept-Ranges': { description: 'bytes', schema: { type: 'string' as const } },
  };
  r.registerPath({
    method: 'get', path: '/v1/adapters/{id}/files/{name}', summary: 'Download one file of an adapter', security,
    request: { params: z.object({ id: z.string(), name: z.string().describe('e.g. adapter_model.safetensors') }), headers: z.object({ range: z.string().optional(), 'if-none-match': z.string().optional() }) },
    responses: {
      200: { description: 'The file.', headers: fileHeaders, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
      206: { description: 'The requested byte range.', headers: { ...fileHeaders, 'Content-Range': { schema: { type: 'string' } } }, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
      304: { description: 'Not modified (If-None-Match matched the ETag).', headers: fileHeaders },
      416: { description: 'Range not satisfiable.', content: { 'application/json': { schema: errorBodySchema } } },
      ...errors(404, 410),
    },
  });
  r.registerPath({
    method: 'get', path: '/v1/adapters/{id}/archive', summary: 'The adapter directory as a tar (PEFT save_pretrained layout); gzip when asked', security, request: { params: adapterId, query: archiveQuery },
    responses: {
      200: {
        description: 'A tar of <id>/… (`compression=none`, the default: application/x-tar) or a tar.gz (`compression=gzip`: application/gzip)',
        content: { 'application/x-tar': { schema: { type: 'string', format: 'binary' } }, 'application/gzip': { schema: { type: 'string', format: 'binary' } } },
      },
      ...errors(400, 404, 410),
    },
  });
  r.registerPath({
    method: 'get', path: '/v1/jobs/{id}/events', summary: 'Live job events (Server-Sent Events)', security, request: { params: jobId },
    description: 'Events job.queued, job.started, job.progress, job.succeeded, job.failed, job.canceled; each `event: <type>` with `data: <Job JSON>`. A late client first gets the current state; `:` comment heartbeats keep proxies from closing the stream; it ends after a terminal event.',
    responses: { 200: { description: 'text/event-stream of Job events', headers: requestId, content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors(404, 429) },
  });
  r.registerPath({ method: 'get', path: '/v1/jobs/{id}/deliveries', summary: "Every webhook delivery attempt of a job", security, request: { params: jobId }, responses: { 200: json(deliveryListSchema, 'The attempts, oldest first.'), ...errors(404) } });
  r.registerPath({ method: 'get', path: '/v1/webhook-secret', summary: "The tenant's webhook signing secret (created on first use)", security, responses: { 200: json(webhookSecretSchema, 'The secret.'), ...errors() } });
  r.registerPath({ method: 'post', path: '/v1/webhook-secret/rotate', summary: 'Rotate the webhook secret; for 24 h deliveries carry both signatures', security, responses: { 200: json(webhookSecretSchema, 'The new secret.'), ...errors() } });
  const webhookHeaders = z.object({
    'webhook-id': z.string().describe('msg_…: the same on every retry of one event (deduplicate on it)'),
    'webhook-timestamp': z.string().describe('Unix seconds of this attempt'),
    'webhook-signature': z.string().describe('`v1,<base64 HMAC-SHA256 of id.timestamp.body>`; two, space-separated, for 24 h after a rotation'),
  });
  for (const event of ['job.succeeded', 'job.failed', 'job.canceled', 'job.started', 'job.progress', 'adapter.deployed', 'adapter.deploy_failed']) {
    r.registerWebhook({
      method: 'post', path: event, summary: `${event} delivery (Standard Webhooks 1.0)`,
      description: 'POSTed to the webhook URL of the request. 2xx within 15 s succeeds; otherwise retried on the Standard Webhooks schedule (Retry-After honoured); 410 stops deliveries to that URL.',
      request: { headers: webhookHeaders, body: { content: { 'application/json': { schema: event.startsWith('adapter.') ? deployEventSchema : webhookEventSchema } } } },
      responses: { 200: { description: 'Any 2xx acknowledges the delivery.' }, 410: { description: 'Gone: no more deliveries to this URL.' } },
    });
  }
  return new OpenApiGeneratorV31(r.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'hyperadapt', version: '1.0.0', description: 'Context, question or subject images in; a LoRA adapter out, in one hypernetwork forward pass. Every non-2xx answer has the Error body.' },
    servers: [{ url: 'http://127.0.0.1:8080' }],
  });
}
