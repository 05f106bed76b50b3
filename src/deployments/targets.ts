/**
 * Deployment targets: the serving engines an operator lets hyperadapt put adapters into, from
 * DEPLOY_TARGETS_FILE (JSON), validated at start-up. Targets are the operator's configuration and
 * trusted as such (the webhook SSRF guard is for URLs clients send, not for these).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const TARGET_KINDS = ['vllm', 'sglang', 'vllm-resolver'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

const targetSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z 0-9 . _ - (starting with a letter or digit)'),
    kind: z.enum(TARGET_KINDS),
    /** The engine's HTTP base URL (not used by vllm-resolver, which is only published to). */
    url: z.url({ protocol: /^https?$/ }).optional(),
    api_key: z.string().min(1).optional(),
    /** The model name the engine serves: written as the adapter's base_model_name_or_path. */
    served_model: z.string().min(1).max(256),
    /** The directory the engine reads adapters from (shared with it). */
    path: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    /** The engine's --max-lora-rank. */
    max_lora_rank: z.number().int().positive(),
    /** The served model's architecture (e.g. "llama"); when given, a generator for another is refused. */
    arch: z.string().min(1).optional(),
    /** Tenants that may deploy here; unset = every tenant. */
    tenants: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)).optional(),
    /** How long one call to the engine may take. */
    timeout_ms: z.number().int().positive().max(600_000).default(30_000),
  })
  .refine((t) => t.kind === 'vllm-resolver' || t.url !== undefined, { message: 'url is required for kinds vllm and sglang', path: ['url'] });

export type DeployTarget = z.infer<typeof targetSchema>;

const fileSchema = z.strictObject({ targets: z.array(targetSchema) }).refine((f) => new Set(f.targets.map((t) => t.name)).size === f.targets.length, { message: 'target names must be unique', path: ['targets'] });

/**
 * The operator's targets, by name.
 *
 * @example
 * const targets = DeployTargets.fromFile('/etc/hyperadapt/targets.json');
 * targets.forTenant('acme', 'vllm-main'); // undefined when acme may not use it
 */
export class DeployTargets {
  private readonly byName: Map<string, DeployTarget>;

  constructor(targets: DeployTarget[]) {
    this.byName = new Map(targets.map((t) => [t.name, t]));
  }

  /** Reads and validates the file; a problem is a start-up error naming the file and the field. */
  static fromFile(file: string): DeployTargets {
    if (!file) return new DeployTargets([]);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`DEPLOY_TARGETS_FILE ${file}: ${(err as Error).message}`);
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) throw new Error(`DEPLOY_TARGETS_FILE ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return new DeployTargets(parsed.data.targets);
  }

  /** The target, when it exists and the tenant may use it. */
  forTenant(tenant: string, name: string): DeployTarget | undefined {
    const t = this.byName.get(name);
    return t && (!t.tenants || t.tenants.includes(tenant)) ? t : undefined;
  }

  get(name: string): DeployTarget | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.byName.size;
  }
}
