/**
 * The half of every "make me an adapter" request that does not depend on the condition's kind:
 * check the webhook target, attach a job record to the cache or to the adapter's computation,
 * enqueue the computation, and optionally wait for the job to end.
 */
import { AppError } from '../../errors/app-error.js';
import type { GenerateJob, ResolvedOptions } from '../../jobs/payloads.js';
import type { AdapterFormat, Manifest } from '../../models/manifest-schema.js';
import { DTYPE_BYTES, type Dtype } from '../../adapters/dtype.js';
import { rowFloat32Bytes } from '../../adapters/assemble.js';
import type { FairScheduler } from '../../scheduling/fair-scheduler.js';
import type { Deployments } from '../../deployments/deployments.js';
import type { DeployRequest } from '../../jobs/payloads.js';
import type { JobEvents } from '../../jobs/job-events.js';
import { adapterKey, canonicalJson, sha256Hex } from '../../store/canonical-hash.js';
import type { JobStore } from '../../store/job-store.js';
import { isTerminal, jobView, type JobView } from '../../store/job-view.js';
import type { WebhookUrlGuard } from '../../webhooks/webhook-url-guard.js';
import { modelVersion } from '../../models/manifest-schema.js';

/**
 * The options an adapter is built with: defaults filled in (so they hash stably), and a format
 * the model can write.
 */
export function resolveOptions(manifest: Manifest, requested: { dtype?: Dtype; format?: AdapterFormat } | undefined): ResolvedOptions {
  const format = requested?.format ?? manifest.formats.default;
  if (!manifest.formats.supported.includes(format)) {
    throw new AppError('invalid_request', `Model "${manifest.id}" writes ${manifest.formats.supported.join(', ')}, not ${format}.`, {
      details: [{ path: ['options', 'format'], message: `one of ${manifest.formats.supported.join(', ')}` }],
    });
  }
  return { dtype: requested?.dtype ?? 'float32', format };
}

export interface SubmitDeps {
  jobs: JobStore;
  scheduler: FairScheduler;
  deployments: Deployments;
  events: JobEvents;
  webhookGuard: WebhookUrlGuard;
}

export interface Webhook {
  url: string;
  events?: string[];
}

/**
 * Refuses a webhook target at request time so the client learns at once; the webhook worker
 * checks again before each delivery (DNS may change). A DNS outage is not the client's fault:
 * delivery decides then. Returns the URL as the parser normalised it (2130706433 → 127.0.0.1),
 * so what was checked is what is used.
 */
export async function checkWebhook<W extends Webhook>(guard: WebhookUrlGuard, webhook: W | undefined, path: string[]): Promise<W | undefined> {
  if (!webhook) return undefined;
  const checked = await guard.check(webhook.url);
  if (!checked.ok && !checked.transient) {
    throw new AppError('invalid_request', `The webhook URL ${checked.reason}.`, { details: [{ path, message: checked.reason }] });
  }
  return checked.ok ? { ...webhook, url: checked.target.url.href } : webhook;
}

/** The kind-specific part of a generate payload. */
export type ConditionPayload =
  | { kind: 'text'; input: Record<string, string>; extends?: string }
  | { kind: 'images'; images: string[]; size: [number, number] };

export interface SubmitCommand {
  tenant: string;
  manifest: Manifest;
  options: ResolvedOptions;
  /** What identifies the condition in the adapter's content address (text, or pixel hashes). */
  hashInput: Record<string, string>;
  condition: ConditionPayload;
  metadata: Record<string, string>;
  /** Checked here (SSRF guard) before anything is stored. */
  webhook?: Webhook;
  /** The client's key and the body it came with (hashed canonically). */
  idempotency?: { key: string; body: unknown };
  /** Deployments to make once the adapter exists (checked here, before anything is stored). */
  deploy?: DeployRequest[];
  /** Image jobs never linger in BullMQ after failing: their payload holds the subject's pixels. */
  removeOnFail?: boolean;
  waitSeconds?: number;
  signal?: AbortSignal;
}

export interface SubmitResult {
  job: JobView;
  /** 200 when the job has ended (cache hit, or it finished within Prefer: wait), else 202. */
  status: 200 | 202;
  /** cached: served from the cache; queued: attached to a computation; existing: idempotent replay. */
  outcome: 'cached' | 'queued' | 'existing';
}

export async function submitGeneration(deps: SubmitDeps, cmd: SubmitCommand): Promise<SubmitResult> {
  const { manifest, options, tenant } = cmd;
  const webhook = await checkWebhook(deps.webhookGuard, cmd.webhook, ['webhook', 'url']);
  const adapterId = `ad_${adapterKey({ tenant, modelId: manifest.id, modelSha256: modelVersion(manifest), input: cmd.hashInput, options })}`;
  const deployable = { id: adapterId, format: options.format, r: manifest.lora.r, arch: manifest.base_model.arch };
  for (const d of cmd.deploy ?? []) deps.deployments.check(tenant, deployable, d);
  const payload = (computation: string): GenerateJob => ({
    v: 1,
    tenant,
    adapter_id: adapterId,
    computation,
    model: manifest.id,
    model_sha256: modelVersion(manifest),
    options,
    queued_ms: Date.now(),
    ...cmd.condition,
  });
  const created = await deps.jobs.create({
    tenant,
    kind: cmd.condition.kind,
    model: manifest.id,
    adapterId,
    metadata: cmd.metadata,
    webhook,
    idempotency: cmd.idempotency ? { keyHash: sha256Hex(cmd.idempotency.key), bodyHash: sha256Hex(canonicalJson(cmd.idempotency.body)) } : undefined,
    estimatedBytes: (rowFloat32Bytes(manifest) / 4) * DTYPE_BYTES[options.dtype],
    deploy: cmd.deploy,
  });
  // A cache hit: the adapter exists, so its deployments start now (a computation's start when it ends).
  if (created.outcome === 'cached') for (const d of cmd.deploy ?? []) await deps.deployments.create(tenant, deployable, d, created.jobId);
  if (created.outcome === 'queued') {
    // Every joiner submits again (a no-op when the computation is known), so a producer that died
    // between creating the computation and enqueueing it is repaired by the next identical request.
    await deps.scheduler.submit(payload(created.computation), cmd.removeOnFail ? { removeOnFail: true } : {});
  }
  let job = created.job;
  if (!isTerminal(job.status) && cmd.waitSeconds) {
    await deps.events.waitUntil(cmd.tenant, job.id, cmd.waitSeconds * 1000, async (event) => {
      // An event carries the record as its script left it: no read needed. The first check
      // (right after subscribing) reads, so an end that came before the subscription counts.
      job = event?.record.id ? jobView(event.record) : ((await deps.jobs.get(cmd.tenant, created.jobId)) ?? job);
      return isTerminal(job.status);
    }, cmd.signal);
  }
  return { job, status: isTerminal(job.status) ? 200 : 202, outcome: created.outcome };
}
