/**
 * Tiles [3, H, W] float images in [0, 1] into one RGB picture: the evaluation's grid (per
 * subject: conditioning | base samples | adapted samples) and the samples preview (base row
 * over adapted row) are drawn by this one function.
 */
import type { GroupLora } from './read-adapter.js';
import type { BaseUnet } from './base-unet.js';
import { gaussianNoise } from './seeded-noise.js';

export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** Rows of [3, H, W] images → RGB bytes, 2-px gaps, 6 px after each group of 4 columns. */
export function composeGrid(rows: Float32Array[][], h: number, w: number): RgbImage {
  const cols = Math.max(...rows.map((r) => r.length));
  const gapAfter = (k: number) => ((k + 1) % 4 === 0 ? 6 : 2);
  const xs: number[] = [];
  let x = 2;
  for (let k = 0; k < cols; k++) {
    xs.push(x);
    x += w + gapAfter(k);
  }
  const width = x;
  const height = rows.length * (h + 2) + 2;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, ri) => row.forEach((img, k) => {
    for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < 3; ch++) {
      rgb[((2 + ri * (h + 2) + yy) * width + xs[k]! + xx) * 3 + ch] = Math.round(255 * img[ch * h * w + yy * w + xx]!);
    }
  }));
  return { rgb, width, height };
}

/**
 * `n` samples of class `classIndex` from the base and the same `n` with `lora` applied, from the
 * same seeded noise, in one batch: row 0 base, row 1 adapted. Deterministic for a seed.
 *
 * @example
 * const grid = await baseVsAdaptedGrid(unet, lora, { n: 4, seed: 7, classIndex: 0 });
 */
export async function baseVsAdaptedGrid(unet: BaseUnet, lora: GroupLora, o: { n: number; seed: number; classIndex: number }): Promise<RgbImage> {
  const [h, w] = unet.spec.size;
  const one = 3 * h * w;
  const noise = gaussianNoise(o.seed, o.n * one);
  const both = new Float32Array(2 * o.n * one);
  both.set(noise, 0);
  both.set(noise, o.n * one);
  const labels = new Array<number>(2 * o.n).fill(o.classIndex);
  const zero = unet.zeroLora();
  const loras = labels.map((_, i) => (i < o.n ? zero : lora));
  const x = await unet.sample(labels, both, loras);
  const tile = (k: number) => x.subarray(k * one, (k + 1) * one);
  return composeGrid([Array.from({ length: o.n }, (_, k) => tile(k)), Array.from({ length: o.n }, (_, k) => tile(o.n + k))], h, w);
}
