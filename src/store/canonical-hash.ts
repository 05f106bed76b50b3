/**
 * Canonical JSON and the content address of an adapter. Two requests that mean the same thing
 * (keys in another order, the same text in another Unicode normalisation form) get the same id.
 */
import { createHash } from 'node:crypto';

/** NFC-normalises every string (keys and values); sorts object keys; keeps array order. */
export function canonicalize(value: unknown): unknown {
  if (typeof value === 'string') return value.normalize('NFC');
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value !== null && typeof value === 'object') {
    // Keys NFC-normalised, then sorted; of two keys that normalise alike, the first one wins.
    const byKey = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value)) {
      const key = k.normalize('NFC');
      if (!byKey.has(key)) byKey.set(key, v);
    }
    const out: Record<string, unknown> = {};
    for (const key of [...byKey.keys()].sort()) out[key] = canonicalize(byKey.get(key));
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite numbers have no canonical form');
  return value;
}

/**
 * JSON with sorted keys and NFC strings, no whitespace.
 *
 * @example
 * canonicalJson({ b: 1, a: 'é' }) === '{"a":"é","b":1}'
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value));
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface AdapterKeyParts {
  tenant: string;
  modelId: string;
  modelSha256: string;
  input: Record<string, string>;
  options: Record<string, unknown>;
}

/** The adapter's content address: 40 hex chars of sha256 over the canonical request. */
export function adapterKey(parts: AdapterKeyParts): string {
  const canonical = canonicalJson({
    v: 1,
    tenant: parts.tenant,
    model: parts.modelId,
    model_sha256: parts.modelSha256,
    input: parts.input,
    options: parts.options,
  });
  return sha256Hex(canonical).slice(0, 40);
}
