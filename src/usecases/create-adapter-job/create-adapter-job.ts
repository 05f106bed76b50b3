/**
 * POST /v1/adapters, as a use case: validate the request against its model, derive the
 * adapter's content address, attach a job to the cache or to the (shared) computation, and
 * optionally wait for it to end.
 */
import { AppError, zodDetails } from '../../errors/app-error.js';
import { createAdapterRequestSchema } from '../../jobs/payloads.js';
import type { LoadedModel, ModelRegistry } from '../../models/model-registry.js';
import { contextOf } from '../../models/model-view.js';
import { adapterUnavailable } from '../../store/adapter-index.js';
import type { AdapterStore } from '../../store/adapter-store.js';
import { resolveOptions, submitGeneration, type SubmitDeps, type SubmitResult } from '../submit-generation/submit-generation.js';
import { modelVersion } from '../../models/manifest-schema.js';

/** Characters per token above which a text cannot fit its token limit (cheap pre-check). */
const MAX_CHARS_PER_TOKEN = 16;

export interface CreateAdapterDeps extends SubmitDeps {
  registry: ModelRegistry;
  adapters: AdapterStore;
  /** MAX_CONTEXT_TOKENS (chunked models). */
  maxContextTokens?: number;
}

/** The adapter a request extends: the tenant's, of the same model version, of a model that can extend. */
async function parentOf(deps: CreateAdapterDeps, tenant: string, model: LoadedModel, parentId: string): Promise<{ id: string; contextTokens: number }> {
  const { manifest } = model;
  if (!manifest.chunking) {
    throw new AppError('unprocessable_input', `Model "${manifest.id}" reads one window and cannot extend adapters; models that can say so in GET /v1/models (context.can_extend).`, { details: [{ path: ['extends'], message: 'model cannot extend' }] });
  }
  const found = await deps.adapters.index.lookup(tenant, parentId, { touch: true });
  if (found.state !== 'ok') throw adapterUnavailable(parentId, found);
  const parent = found.entry.record;
  if (parent.model !== manifest.id || parent.model_sha256 !== modelVersion(manifest)) {
    throw new AppError('conflict', `Adapter ${parentId} was made by ${parent.model === manifest.id ? 'another version of' : 'model'} "${parent.model}"; it can only be extended by the model version that made it.`, { details: [{ path: ['extends'], message: 'other model version' }] });
  }
  return { id: parentId, contextTokens: parent.context_tokens ?? 0 };
}

export interface CreateAdapterCommand {
  tenant: string;
  body: unknown;
  idempotencyKey?: string;
  waitSeconds?: number;
  signal?: AbortSignal;
}

export type CreateAdapterResult = SubmitResult;

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

  const options = resolveOptions(manifest, req.options);

  const parent = req.extends === undefined ? undefined : await parentOf(deps, cmd.tenant, model, req.extends);
  // A chunked model reads its field window by window, up to its context limit (with the parent's tokens).
  const context = contextOf(manifest, deps.maxContextTokens ?? Number.MAX_SAFE_INTEGER);
  const before = parent?.contextTokens ?? 0;

  // The model reads exactly what is hashed: NFC text.
  const input: Record<string, string> = {};
  for (const [name, text] of Object.entries(req.input)) {
    const normalized = text.normalize('NFC');
    const limit = context ? context.max_tokens - before : fields[name]!.max_tokens;
    const withParent = before ? ` (${before} more in the adapter it extends; the limit counts both)` : '';
    if (normalized.trim() === '') throw new AppError('unprocessable_input', `input.${name} is empty.`, { details: [{ path: ['input', name], message: 'empty' }] });
    if (normalized.length > Math.max(0, limit) * MAX_CHARS_PER_TOKEN) {
      throw new AppError('payload_too_large', `input.${name} is ${normalized.length} characters${withParent}; the limit is ${limit + before} tokens (at most ${Math.max(0, limit) * MAX_CHARS_PER_TOKEN} characters here).`);
    }
    const tokens = model.tokenizer!.count(normalized);
    if (tokens > limit) {
      throw new AppError('payload_too_large', `input.${name} is ${tokens} tokens${withParent}; the limit is ${limit + before} tokens.`);
    }
    input[name] = normalized;
  }

  return submitGeneration(deps, {
    tenant: cmd.tenant,
    manifest,
    options,
    // The parent's id is a content address of its own input chain, so this one covers both.
    hashInput: parent ? { ...input, '@extends': parent.id } : input,
    condition: { kind: 'text', input, ...(parent ? { extends: parent.id } : {}) },
    metadata: req.metadata ?? {},
    webhook: req.webhook,
    deploy: req.deploy,
    idempotency: cmd.idempotencyKey ? { key: cmd.idempotencyKey, body: cmd.body } : undefined,
    waitSeconds: cmd.waitSeconds,
    signal: cmd.signal,
  });
}
