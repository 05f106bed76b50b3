/**
 * A model's `base.onnx` (the base LM taking LoRA tensors as inputs), with greedy decoding. Used
 * by the evaluation to apply generated adapters exactly as a client's serving stack would.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/model-registry.js';
import { readSafetensors } from '../adapters/safetensors.js';
import { decodeTensor, type Dtype } from '../adapters/dtype.js';

/** LoRA tensors for base.onnx: per group, A [n, r, in] and B [n, out, r] of one adapter. */
export type GroupLora = Record<string, { a: Float32Array; b: Float32Array }>;

const ST_DTYPE: Record<string, Dtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Reads a PEFT `adapter_model.safetensors` back into base.onnx's per-group layout. */
export function loraFromPeftSafetensors(model: LoadedModel, bytes: Uint8Array): GroupLora {
  const st = readSafetensors(bytes);
  const { r } = model.manifest.lora;
  const out: GroupLora = {};
  for (const g of model.manifest.groups) {
    const a = new Float32Array(g.modules.length * r * g.in);
    const b = new Float32Array(g.modules.length * g.out * r);
    g.modules.forEach((m, i) => {
      const ta = st.tensors[`base_model.model.${m}.lora_A.weight`];
      const tb = st.tensors[`base_model.model.${m}.lora_B.weight`];
      if (!ta || !tb) throw new Error(`adapter lacks ${m}`);
      a.set(decodeTensor(ta.data, ST_DTYPE[ta.dtype]!), i * r * g.in);
      b.set(decodeTensor(tb.data, ST_DTYPE[tb.dtype]!), i * g.out * r);
    });
    out[g.name] = { a, b };
  }
  return out;
}

export class BaseLm {
  private constructor(
    private readonly model: LoadedModel,
    private readonly session: ort.InferenceSession,
  ) {}

  static async open(model: LoadedModel, intraOpThreads = 2): Promise<BaseLm> {
    if (!model.manifest.base) throw new Error(`model ${model.manifest.id} ships no base.onnx`);
    const session = await ort.InferenceSession.create(path.join(model.dir, model.manifest.base.file), {
      executionProviders: ['cpu'],
      intraOpNumThreads: intraOpThreads,
      graphOptimizationLevel: 'all',
    });
    return new BaseLm(model, session);
  }

  /** An all-zero adapter: the base model itself. */
  zeroLora(): GroupLora {
    const { r } = this.model.manifest.lora;
    return Object.fromEntries(
      this.model.manifest.groups.map((g) => [g.name, { a: new Float32Array(g.modules.length * r * g.in), b: new Float32Array(g.modules.length * g.out * r) }]),
    );
  }

  /**
   * Greedy decoding of a batch (right padding, full recompute per step: the model is tiny).
   * `loras[i]` is row i's adapter. Returns the generated ids per row, without the EOS.
   */
  async greedy(prompts: number[][], loras: GroupLora[], maxNew: number, eos: number): Promise<number[][]> {
    const m = this.model.manifest;
    const pad = m.pad_token_id ?? 0;
    const { r } = m.lora;
    const n = prompts.length;
    const loraFeeds: Record<string, ort.Tensor> = {};
    for (const g of m.groups) {
      const k = g.modules.length;
      const a = new Float32Array(n * k * r * g.in);
      const b = new Float32Array(n * k * g.out * r);
      loras.forEach((l, i) => {
        a.set(l[g.name]!.a, i * k * r * g.in);
        b.set(l[g.name]!.b, i * k * g.out * r);
      });
      loraFeeds[g.output_a] = new ort.Tensor('float32', a, [n, k, r, g.in]);
      loraFeeds[g.output_b] = new ort.Tensor('float32', b, [n, k, g.out, r]);
    }
    const seqs = prompts.map((p) => [...p]);
    const outs: number[][] = prompts.map(() => []);
    const done = prompts.map(() => false);
    for (let step = 0; step < maxNew && done.some((d) => !d); step++) {
      const width = Math.max(...seqs.map((s) => s.length));
      const ids = new BigInt64Array(n * width).fill(BigInt(pad));
      const mask = new BigInt64Array(n * width);
      seqs.forEach((s, i) => s.forEach((t, j) => {
        ids[i * width + j] = BigInt(t);
        mask[i * width + j] = 1n;
      }));
      const res = await this.session.run({
        input_ids: new ort.Tensor('int64', ids, [n, width]),
        attention_mask: new ort.Tensor('int64', mask, [n, width]),
        ...loraFeeds,
      });
      const logits = res.logits!;
      const vocab = logits.dims[2]!;
      const data = logits.data as Float32Array;
      seqs.forEach((s, i) => {
        if (done[i]) return;
        const off = (i * width + s.length - 1) * vocab;
        let best = 0;
        for (let v = 1; v < vocab; v++) if (data[off + v]! > data[off + best]!) best = v;
        if (best === eos) done[i] = true;
        else {
          outs[i]!.push(best);
          s.push(best);
        }
      });
    }
    return outs;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
