/**
 * Reads a written adapter back into the LoRA-tensor layout a model's `base.onnx` takes, so the
 * evaluation applies exactly the bytes a client would download.
 */
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/model-registry.js';
import type { Manifest } from '../models/manifest-schema.js';
import { readSafetensors } from '../adapters/safetensors.js';
import { decodeTensor, type Dtype } from '../adapters/dtype.js';

/** LoRA tensors of ONE adapter for base.onnx: per group, A [n, r, in] and B [n, out, r]. */
export type GroupLora = Record<string, { a: Float32Array; b: Float32Array }>;

const ST_DTYPE: Record<string, Dtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The safetensors keys of a module's A and B in each written format. */
const KEYS = {
  peft: (m: string) => [`base_model.model.${m}.lora_A.weight`, `base_model.model.${m}.lora_B.weight`],
  diffusers: (m: string) => [`unet.${m}.lora_A.weight`, `unet.${m}.lora_B.weight`],
  kohya: (m: string) => [`lora_unet_${m.replace(/\./g, '_')}.lora_down.weight`, `lora_unet_${m.replace(/\./g, '_')}.lora_up.weight`],
} as const;

/**
 * Parses an adapter's weights file (`adapter_model.safetensors`, `pytorch_lora_weights.safetensors`
 * or the kohya file) into per-group A/B tensors.
 *
 * @example
 * const lora = loraFromSafetensors(model, bytes, 'diffusers');
 */
export function loraFromSafetensors(model: LoadedModel, bytes: Uint8Array, format: keyof typeof KEYS): GroupLora {
  const st = readSafetensors(bytes);
  const { r } = model.manifest.lora;
  const out: GroupLora = {};
  for (const g of model.manifest.groups) {
    const a = new Float32Array(g.modules.length * r * g.in);
    const b = new Float32Array(g.modules.length * g.out * r);
    g.modules.forEach((m, i) => {
      const [ka, kb] = KEYS[format](m);
      const ta = st.tensors[ka!];
      const tb = st.tensors[kb!];
      if (!ta || !tb) throw new Error(`adapter lacks ${m}`);
      a.set(decodeTensor(ta.data, ST_DTYPE[ta.dtype]!), i * r * g.in);
      b.set(decodeTensor(tb.data, ST_DTYPE[tb.dtype]!), i * g.out * r);
    });
    out[g.name] = { a, b };
  }
  return out;
}

/** An all-zero adapter: base.onnx then computes the base model itself. */
export function zeroLora(manifest: Manifest): GroupLora {
  const { r } = manifest.lora;
  return Object.fromEntries(manifest.groups.map((g) => [g.name, { a: new Float32Array(g.modules.length * r * g.in), b: new Float32Array(g.modules.length * g.out * r) }]));
}

/** Stacks one adapter per batch row into base.onnx's `lora_A__<g>` [n, M, r, in] / `lora_B__<g>` feeds. */
export function loraFeeds(manifest: Manifest, loras: GroupLora[]): Record<string, ort.Tensor> {
  const { r } = manifest.lora;
  const n = loras.length;
  const feeds: Record<string, ort.Tensor> = {};
  for (const g of manifest.groups) {
    const k = g.modules.length;
    const a = new Float32Array(n * k * r * g.in);
    const b = new Float32Array(n * k * g.out * r);
    loras.forEach((l, i) => {
      a.set(l[g.name]!.a, i * k * r * g.in);
      b.set(l[g.name]!.b, i * k * g.out * r);
    });
    feeds[g.output_a] = new ort.Tensor('float32', a, [n, k, r, g.in]);
    feeds[g.output_b] = new ort.Tensor('float32', b, [n, k, g.out, r]);
  }
  return feeds;
}
