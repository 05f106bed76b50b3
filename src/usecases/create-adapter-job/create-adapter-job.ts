/**
 * POST /v1/adapters, as a use case: validate the request against its model, derive the
 * adapter's content address, attach a job to the cache or to the (shared) computation, and
 * optionally wait for it to end.
 */
import { AppError, zodDetails } from '../../errors/app-error.js';
import { createAdapterRequestSchema, type GenerateJob, type ResolvedOptions } from '../../jobs/payloads.js';
import type { GenerateQueue } from '../../jobs/generate-queue.js';
import type { JobEvents } from '../../jobs/job-events.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import { adapterKey, canonicalJson, sha256Hex } from '../../store/canonical-hash.js';
import type { JobStore } from '../../store/job-store.js';
import { isTerminal, type JobView } from '../../store/job-view.js';
import type { WebhookUrlGuard } from '../../webhooks/webhook-url-guard.js';

/** Characters per token above which a text cannot fit its token limit (cheap pre-check). */
const MAX_CHARS_PER_TOKEN = 16;

export interface CreateAdapterDeps {
  registry: ModelRegistry;
  jobs: JobStore;
  queue: GenerateQueue;
  events: JobEvents;
  webhookGuard: WebhookUrlGuard;
}

export interface CreateAdapterCommand {
  tenant: string;
  body: unknown;
  idempotencyKey?: string;
  waitSeconds?: number;
  signal?: AbortSignal;
}

export interface CreateAdapterResult {
  job: JobView;
  /** 200 when the job has ended (cache hit, or it finished within Prefer: wait), else 202. */
  status: 200 | 202;
  /** cached: served from the cache; queued: attached to a computation; existing: idempotent replay. */
  outcome: 'cached' | 'queued' | 'existing';
}

export async function createAdapterJob(deps: CreateAdapterDeps, cmd: CreateAdapterCommand): Promise<CreateAdapterResult> {
  const parsed = createAdapterRequestSchema.safeParse(cmd.body);
  if (!parsed.success) {
    throw new AppError('invalid_request', 'The request body does not match the schema.', { details: zodDetails(parsed.error.issues) });
  }
  const req = parsed.data;
  const model = deps.registry.get(req.model);
  if (!model) throw new AppError('not_found', `No model named "${req.model}". GET /v1/models lists them.`);
  const { manifest } = model;
  if (manifest.condition.kind !== 'text') {
    throw new AppError('invalid_request', `Model "${req.model}" takes images; use POST /v1/personalizations.`, { details: [{ path: ['model'], message: 'image model' }] });
  }
  const fields = manifest.condition.fields;
  const details = [];
  for (const name of Object.keys(req.input)) {
    if (!(name in fields)) details.push({ path: ['input', name], message: `unknown field; model "${req.model}" reads ${Object.keys(fields).join(', ')}` });
  }
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.required && req.input[name] === undefined) details.push({ path: ['input', name], message: 'required' });
  }
  if (details.length) throw new AppError('invalid_request', 'The input does not match the model.', { details });

  const format = req.options?.format ?? manifest.formats.default;
  if (!manifest.formats.supported.includes(format)) {
    throw new AppError('invalid_request', `Model "${req.model}" writes ${manifest.formats.supported.join(', ')}, not ${format}.`, {
      details: [{ path: ['options', 'format'], message: `one of ${manifest.formats.supported.join(', ')}` }],
    });
  }
  const options: ResolvedOptions = { dtype: req.options?.dtype ?? 'float32', format };

  // The model reads exactly what is hashed: NFC text.
  const input: Record<string, string> = {};
  for (const [name, text] of Object.entries(req.input)) {
    const normalized = text.normalize('NFC');
    const spec = fields[name]!;
    if (normalized.trim() === '') throw new AppError('unprocessable_input', `input.${name} is empty.`, { details: [{ path: ['input', name], message: 'empty' }] });
    if (normalized.length > spec.max_tokens * MAX_CHARS_PER_TOKEN) {
      throw new AppError('payload_too_large', `input.${name} is ${normalized.length} characters; the limit is ${spec.max_tokens} tokens (at most ${spec.max_tokens * MAX_CHARS_PER_TOKEN} characters).`);
    }
    const tokens = model.tokenizer!.encode(normalized).length;
    if (tokens > spec.max_tokens) {
      throw new AppError('payload_too_large', `input.${name} is ${tokens} tokens; the limit is ${spec.max_tokens} tokens.`);
    }
    input[name] = normalized;
  }

  let webhook = req.webhook;
  if (webhook) {
    // Refused here so the client learns at once; the webhook worker checks again before each
    // delivery (DNS may change). A DNS outage is not the client's fault: delivery decides then.
    const checked = await deps.webhookGuard.check(webhook.url);
    if (!checked.ok && !checked.transient) {
      throw new AppError('invalid_request', `The webhook URL ${checked.reason}.`, { details: [{ path: ['webhook', 'url'], message: checked.reason }] });
    }
    // Stored as the URL parser normalised it (2130706433 → 127.0.0.1): what was checked is what is used.
    if (checked.ok) webhook = { ...webhook, url: checked.target.url.href };
  }

  const adapterId = `ad_${adapterKey({ tenant: cmd.tenant, modelId: manifest.id, modelSha256: manifest.sha256, input, options })}`;
  const created = await deps.jobs.create({
    tenant: cmd.tenant,
    kind: 'text',
    model: manifest.id,
    adapterId,
    metadata: req.metadata ?? {},
    webhook,
    idempotency: cmd.idempotencyKey
      ? { keyHash: sha256Hex(cmd.idempotencyKey), bodyHash: sha256Hex(canonicalJson(cmd.body)) }
      : undefined,
  });
  if (created.outcome === 'queued') {
    const payload: GenerateJob = {
      v: 1,
      tenant: cmd.tenant,
      adapter_id: adapterId,
      computation: created.computation,
      model: manifest.id,
      model_sha256: manifest.sha256,
      kind: 'text',
      input,
      options,
    };
    // Every joiner re-adds the same BullMQ id (a no-op when it exists), so a producer that died
    // between creating the computation and enqueueing it is repaired by the next identical request.
    await deps.queue.enqueue(payload);
  }
  let job = await deps.jobs.get(cmd.tenant, created.jobId);
  if (!job) throw new Error(`job ${created.jobId} vanished right after it was created`);
  if (!isTerminal(job.status) && cmd.waitSeconds) {
    await deps.events.waitUntil(cmd.tenant, job.id, cmd.waitSeconds * 1000, async () => {
      job = (await deps.jobs.get(cmd.tenant, created.jobId)) ?? job;
      return isTerminal(job!.status);
    }, cmd.signal);
  }
  return { job, status: isTerminal(job.status) ? 200 : 202, outcome: created.outcome };
}
