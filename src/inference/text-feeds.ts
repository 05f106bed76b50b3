/**
 * Builds a text generator's input tensors for a batch of requests: each field tokenized, padded
 * to the batch's longest row on the manifest's padding side, with an attention mask.
 */
import type { Manifest } from '../models/manifest-schema.js';

export interface TensorSpec {
  type: 'int64' | 'int32' | 'float32';
  data: BigInt64Array | Int32Array | Float32Array;
  dims: number[];
}

/** Token ids per field, per batch row. */
export type TokenizedRow = Record<string, number[]>;

export function buildTextFeeds(manifest: Manifest, rows: TokenizedRow[]): Record<string, TensorSpec> {
  const pad = manifest.pad_token_id ?? 0;
  const left = manifest.padding_side === 'left';
  const feeds: Record<string, TensorSpec> = {};
  for (const input of manifest.inputs) {
    const field = input.field!;
    const width = Math.max(1, ...rows.map((r) => (r[field] ?? []).length));
    const size = rows.length * width;
    const values = new Array<number>(size);
    rows.forEach((row, b) => {
      const ids = row[field] ?? [];
      const start = left ? width - ids.length : 0;
      for (let t = 0; t < width; t++) {
        const inside = t >= start && t < start + ids.length;
        values[b * width + t] = input.role === 'attention_mask' ? (inside ? 1 : 0) : inside ? ids[t - start]! : pad;
      }
    });
    const dims = [rows.length, width];
    if (input.dtype === 'int64') feeds[input.name] = { type: 'int64', data: BigInt64Array.from(values, (v) => BigInt(v)), dims };
    else if (input.dtype === 'int32') feeds[input.name] = { type: 'int32', data: Int32Array.from(values), dims };
    else feeds[input.name] = { type: 'float32', data: Float32Array.from(values), dims };
  }
  return feeds;
}
