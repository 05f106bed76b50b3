/**
 * A batch's input tensors for a (non-chunked) generator, built in the inference thread: text
 * fields tokenized and padded, or subject images stacked; rows that fail validation get their
 * result at once and take no row.
 */
import * as ort from 'onnxruntime-node';
import type { TextTokenizer } from '../conditioning/text-tokenizer.js';
import { buildPixelTensors } from '../conditioning/image-preprocess.js';
import type { Manifest } from '../models/manifest-schema.js';
import { buildTextFeeds, type TokenizedRow } from './text-feeds.js';
import type { GenerateTask, ItemResult } from './thread-protocol.js';

function toTensor(spec: { type: string; data: BigInt64Array | Int32Array | Float32Array; dims: number[] }): ort.Tensor {
  return new ort.Tensor(spec.type as 'int64', spec.data as BigInt64Array, spec.dims);
}

/** Stacks per-request pixel tensors into the graph's [batch, images, 3, H, W] and [batch, images]. */
function imageFeeds(manifest: Manifest, per: { pixels: Float32Array; mask: Float32Array }[]): Record<string, ort.Tensor> {
  if (manifest.condition.kind !== 'images') throw new Error('not an image model');
  const c = manifest.condition;
  const pixels = new Float32Array(per.length * per[0]!.pixels.length);
  const mask = new Float32Array(per.length * c.max_images);
  per.forEach((p, b) => {
    pixels.set(p.pixels, b * p.pixels.length);
    mask.set(p.mask, b * c.max_images);
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of manifest.inputs) {
    if (input.role === 'pixel_values') feeds[input.name] = new ort.Tensor('float32', pixels, [per.length, c.max_images, 3, c.size[0], c.size[1]]);
    else if (input.role === 'image_mask') {
      feeds[input.name] = input.dtype === 'float32'
        ? new ort.Tensor('float32', mask, [per.length, c.max_images])
        : new ort.Tensor('int64', BigInt64Array.from(mask, (v) => BigInt(v)), [per.length, c.max_images]);
    }
  }
  return feeds;
}

/** Feeds for the rows that pass validation; rejected rows get their result at once. */
export function prepare(model: { spec: { manifest: Manifest }; tokenizer: TextTokenizer | null }, task: GenerateTask, results: (ItemResult | undefined)[]): { feeds: Record<string, ort.Tensor> | undefined; rowOf: number[]; rows: number } {
  const { manifest } = model.spec;
  const rowOf: number[] = [];
  const reject = (i: number, code: string, message: string) => {
    results[i] = { ok: false, error: { code, message, retryable: false } };
  };
  if (manifest.condition.kind === 'text') {
    const rows: TokenizedRow[] = [];
    const fields = manifest.condition.fields;
    task.items.forEach((item, i) => {
      if (!item.input || !model.tokenizer) return reject(i, 'unprocessable_input', 'this model takes text');
      const row: TokenizedRow = {};
      for (const [field, spec] of Object.entries(fields)) {
        const text = item.input[field];
        if (text === undefined) continue;
        const ids = model.tokenizer.encode(text);
        if (ids.length > spec.max_tokens) return reject(i, 'payload_too_large', `${field} is ${ids.length} tokens; the limit is ${spec.max_tokens}`);
        row[field] = ids;
      }
      rowOf[i] = rows.length;
      rows.push(row);
    });
    const feeds = rows.length > 0 ? Object.fromEntries(Object.entries(buildTextFeeds(manifest, rows)).map(([k, v]) => [k, toTensor(v)])) : undefined;
    return { feeds, rowOf, rows: rows.length };
  }
  const c = manifest.condition;
  const per: { pixels: Float32Array; mask: Float32Array }[] = [];
  task.items.forEach((item, i) => {
    const images = (item.images ?? []).map((b64) => new Uint8Array(Buffer.from(b64, 'base64')));
    if (images.length < c.min_images || images.length > c.max_images) return reject(i, 'unprocessable_input', `this model takes ${c.min_images}-${c.max_images} images`);
    if (images.some((img) => img.length !== c.size[0] * c.size[1] * 3)) return reject(i, 'unprocessable_input', "an image does not have the model's size");
    rowOf[i] = per.length;
    per.push(buildPixelTensors(images, c.size, c.max_images, c.mean, c.std));
  });
  return { feeds: per.length > 0 ? imageFeeds(manifest, per) : undefined, rowOf, rows: per.length };
}
