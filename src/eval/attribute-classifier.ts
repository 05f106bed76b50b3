/**
 * The attribute classifier shipped beside an image model's evaluation (`eval/<classifier>.onnx`):
 * reads a 32×32 render's shape, colour and pattern, and gives an L2-normalised feature vector
 * (its cosine similarity to held-out images of a subject is the card's similarity score).
 */
import * as ort from 'onnxruntime-node';

export interface Attributes {
  shape: number;
  colour: number;
  pattern: number;
  features: Float32Array;
}

const argmax = (d: Float32Array, off: number, n: number) => {
  let best = 0;
  for (let i = 1; i < n; i++) if (d[off + i]! > d[off + best]!) best = i;
  return best;
};

export class AttributeClassifier {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async open(file: string, intraOpThreads = 2): Promise<AttributeClassifier> {
    return new AttributeClassifier(await ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: intraOpThreads }));
  }

  /** images: [n, 3, H, W] in [0, 1]. */
  async classify(images: Float32Array, n: number, size: [number, number]): Promise<Attributes[]> {
    const x = Float32Array.from(images, (v) => v * 2 - 1);
    const res = await this.session.run({ pixel_values: new ort.Tensor('float32', x, [n, 3, size[0], size[1]]) });
    const heads = ['shape_logits', 'colour_logits', 'pattern_logits'].map((k) => res[k]!);
    const feats = res.features!;
    const fd = feats.dims[1]!;
    return Array.from({ length: n }, (_, i) => {
      const [s, c, p] = heads.map((h) => argmax(h.data as Float32Array, i * h.dims[1]!, h.dims[1]!));
      return { shape: s!, colour: c!, pattern: p!, features: (feats.data as Float32Array).slice(i * fd, (i + 1) * fd) };
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Mean cosine similarity between every a and every b (both L2-normalised). */
export function meanCosine(a: Float32Array[], b: Float32Array[]): number {
  let sum = 0;
  for (const x of a) for (const y of b) {
    let d = 0;
    for (let i = 0; i < x.length; i++) d += x[i]! * y[i]!;
    sum += d;
  }
  return sum / (a.length * b.length);
}
