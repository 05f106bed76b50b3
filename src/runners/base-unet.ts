/**
 * A diffusion model's `base.onnx` (a UNet taking LoRA tensors as inputs) and its sampler, as
 * the manifest's `base.diffusion` declares it: rectified flow, x_t = (1 − t)·x0 + t·noise, the
 * net predicts noise − x0, Euler steps from t = 1 to 0, optional classifier-free guidance.
 * Used by the evaluation to render with a generated adapter exactly as written to disk.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/model-registry.js';
import { loraFeeds, zeroLora, type GroupLora } from './read-adapter.js';

export class BaseUnet {
  private constructor(
    private readonly model: LoadedModel,
    private readonly session: ort.InferenceSession,
  ) {}

  static async open(model: LoadedModel, intraOpThreads = 2): Promise<BaseUnet> {
    const base = model.manifest.base;
    if (!base?.diffusion) throw new Error(`model ${model.manifest.id} ships no diffusion base.onnx`);
    const session = await ort.InferenceSession.create(path.join(model.dir, base.file), {
      executionProviders: ['cpu'],
      intraOpNumThreads: intraOpThreads,
      graphOptimizationLevel: 'all',
    });
    return new BaseUnet(model, session);
  }

  get spec() {
    return this.model.manifest.base!.diffusion!;
  }

  zeroLora(): GroupLora {
    return zeroLora(this.model.manifest);
  }

  /** One velocity evaluation for a batch; `loras[i]` is row i's adapter. */
  async velocity(x: Float32Array, t: number, labels: number[], feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
    const [h, w] = this.spec.size;
    const n = labels.length;
    const res = await this.session.run({
      sample: new ort.Tensor('float32', x, [n, 3, h, w]),
      timestep: new ort.Tensor('float32', new Float32Array(n).fill(t), [n]),
      class_labels: new ort.Tensor('int64', BigInt64Array.from(labels, (l) => BigInt(l)), [n]),
      ...feeds,
    });
    return res.velocity!.data as Float32Array;
  }

  /**
   * Samples one image per row from `noise` ([n, 3, H, W] standard normal); returns [n, 3, H, W]
   * in [0, 1].
   *
   * @example
   * const imgs = await unet.sample([2, 2], gaussianNoise(7, 2 * 3 * 32 * 32), [unet.zeroLora(), generated]);
   */
  async sample(labels: number[], noise: Float32Array, loras: GroupLora[], steps = this.spec.steps, guidance = this.spec.guidance): Promise<Float32Array> {
    const feeds = loraFeeds(this.model.manifest, loras);
    const x = Float32Array.from(noise);
    const nullLabels = labels.map(() => this.spec.null_class);
    for (let i = 0; i < steps; i++) {
      const t = 1 - i / steps;
      const dt = -1 / steps;
      const v = await this.velocity(x, t, labels, feeds);
      if (guidance !== 1) {
        const vu = await this.velocity(x, t, nullLabels, feeds);
        for (let j = 0; j < v.length; j++) v[j] = vu[j]! + guidance * (v[j]! - vu[j]!);
      }
      for (let j = 0; j < x.length; j++) x[j]! += dt * v[j]!;
    }
    for (let j = 0; j < x.length; j++) x[j] = Math.min(1, Math.max(0, (x[j]! + 1) / 2));
    return x;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
