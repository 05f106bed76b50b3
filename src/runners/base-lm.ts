/**
 * A model's `base.onnx` (the base LM taking LoRA tensors as inputs), with greedy decoding. Used
 * by the evaluation to apply generated adapters exactly as a client's serving stack would.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/model-registry.js';
import { loraFeeds, zeroLora, type GroupLora } from './read-adapter.js';

export type { GroupLora } from './read-adapter.js';

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
    return zeroLora(this.model.manifest);
  }

  /**
   * Greedy decoding of a batch (right padding, full recompute per step: the model is tiny).
   * `loras[i]` is row i's adapter. Returns the generated ids per row, without the EOS.
   */
  async greedy(prompts: number[][], loras: GroupLora[], maxNew: number, eos: number): Promise<number[][]> {
    const m = this.model.manifest;
    const pad = m.pad_token_id ?? 0;
    const n = prompts.length;
    const feeds = loraFeeds(m, loras);
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
        ...feeds,
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
