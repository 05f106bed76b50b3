/**
 * Seeded standard-normal noise (mulberry32 + Box–Muller) so an evaluation's diffusion samples are
 * the same on every run and every machine.
 *
 * @example
 * const eps = gaussianNoise(1000 + subjectIndex, 8 * 3 * 32 * 32);
 */
export function gaussianNoise(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296; // (0, 1): log() stays finite
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const th = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}
