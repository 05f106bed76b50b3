/**
 * POST /v1/adapters, as a use case: validate the request against its model, derive the
 * adapter's content address, attach a job to the cache or to the (shared) computation, and
 * optionally wait for it to end.
 */
import { AppError, zodDetails } from '../../errors/app-error.js';
import { createAdapterRequestSchema } from '../../jobs/payloads.js';
import type { ModelRegistry } from '../../models/model-registry.js';
import { resolveOptions, submitGeneration, type SubmitDeps, type SubmitResult } from '../submit-generation/submit-generation.js';

/** Characters per token above which a text cannot fit its token limit (cheap pre-check). */
const MAX_CHARS_PER_TOKEN = 16;

export interface CreateAdapterDeps extends SubmitDeps {
  registry: ModelRegistry;
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

  // The model reads exactly what is hashed: NFC text.
  const input: Record<string, string> = {};
  for (const [name, text] of Object.entries(req.input)) {
    const normalized = text.normalize('NFC');
    const spec = fields[name]!;
    if (normalized.trim() === '') throw new AppError('unprocessable_input', `input.${name} is empty.`, { details: [{ path: ['input', name], message: 'empty' }] });
    if (normalized.length > spec.max_tokens * MAX_CHARS_PER_TOKEN) {
      throw new AppError('payload_too_large', `input.${name} is ${normalized.length} characters; the limit is ${spec.max_tokens} tokens (at most ${spec.max_tokens * MAX_CHARS_PER_TOKEN} characters).`);
    }
    const tokens = model.tokenizer!.count(normalized);
    if (tokens > spec.max_tokens) {
      throw new AppError('payload_too_large', `input.${name} is ${tokens} tokens; the limit is ${spec.max_tokens} tokens.`);
    }
    input[name] = normalized;
  }

  return submitGeneration(deps, {
    tenant: cmd.tenant,
    manifest,
    options,
    hashInput: input,
    condition: { kind: 'text', input },
    metadata: req.metadata ?? {},
    webhook: req.webhook,
    deploy: req.deploy,
    idempotency: cmd.idempotencyKey ? { key: cmd.idempotencyKey, body: cmd.body } : undefined,
    waitSeconds: cmd.waitSeconds,
    signal: cmd.signal,
  });
}
