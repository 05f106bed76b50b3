/** The public `Model` object of api-v1.md, derived from a manifest. */
import type { Manifest } from './manifest-schema.js';

export interface ModelView {
  id: string;
  object: 'model';
  kind: 'text' | 'images';
  method: string;
  version: string;
  description: string;
  inputs: Record<string, unknown>;
  base_model: string;
  base_model_revision: string | null;
  lora: { r: number; lora_alpha: number; use_rslora: boolean; target_modules: string[] };
  formats: string[];
  default_format: string;
  limits: Record<string, number>;
  /**
   * How its adapters can be tried at once: `generate` (POST /v1/adapters/{id}/generate),
   * `samples` (POST /v1/adapters/{id}/samples), or null.
   */
  preview: 'generate' | 'samples' | null;
  /** The classes a samples preview can draw (its `class`); null unless preview is `samples`. */
  sample_classes: string[] | null;
  /** Long contexts read window by window (chunked models), else null. */
  context: { window_tokens: number; max_chunks: number; max_tokens: number; mode: 'additive-state'; can_extend: boolean } | null;
  sha256: string;
}

/** PEFT's `target_modules`: the distinct last path components of the adapted modules. */
export function targetModules(manifest: Manifest): string[] {
  const names = new Set(manifest.groups.flatMap((g) => g.modules.map((m) => m.split('.').pop()!)));
  return [...names].sort();
}

/** A chunked model's window and context limit: what `POST /v1/adapters` accepts. */
export function contextOf(m: Manifest, maxContextTokens: number): ModelView['context'] {
  if (!m.chunking || m.condition.kind !== 'text') return null;
  const window = Object.values(m.condition.fields)[0]!.max_tokens;
  return { window_tokens: window, max_chunks: m.chunking.max_chunks, max_tokens: Math.min(window * m.chunking.max_chunks, maxContextTokens), mode: m.chunking.mode, can_extend: true };
}

function previewOf(m: Manifest): ModelView['preview'] {
  if (!m.base) return null;
  if (m.condition.kind === 'text' && !m.base.diffusion && m.formats.supported.includes('peft')) return 'generate';
  if (m.condition.kind === 'images' && m.base.diffusion && m.formats.supported.includes('diffusers')) return 'samples';
  return null;
}

/**
 * @param maxContextTokens the server's MAX_CONTEXT_TOKENS (caps a chunked model's context)
 */
export function modelView(m: Manifest, maxContextTokens = Number.MAX_SAFE_INTEGER): ModelView {
  const c = m.condition;
  const inputs: Record<string, unknown> =
    c.kind === 'text'
      ? Object.fromEntries(Object.entries(c.fields).map(([k, f]) => [k, { type: 'string', max_tokens: f.max_tokens, required: f.required }]))
      : { images: { min_images: c.min_images, max_images: c.max_images, size: c.size, formats: ['png', 'jpeg', 'webp'] } };
  const limits: Record<string, number> =
    c.kind === 'text'
      ? Object.fromEntries(Object.entries(c.fields).map(([k, f]) => [`${k}_max_tokens`, f.max_tokens]))
      : { min_images: c.min_images, max_images: c.max_images };
  return {
    id: m.id,
    object: 'model',
    kind: c.kind,
    method: m.method,
    version: m.version,
    description: m.description,
    inputs,
    base_model: m.base_model.name_or_path,
    base_model_revision: m.base_model.revision ?? null,
    lora: { r: m.lora.r, lora_alpha: m.lora.lora_alpha, use_rslora: m.lora.use_rslora, target_modules: targetModules(m) },
    formats: m.formats.supported,
    default_format: m.formats.default,
    limits,
    preview: previewOf(m),
    sample_classes: previewOf(m) === 'samples' ? m.base!.diffusion!.classes : null,
    context: contextOf(m, maxContextTokens),
    sha256: m.sha256,
  };
}
