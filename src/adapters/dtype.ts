/**
 * float32 → float16 / bfloat16 conversion (Node 20 has no Float16Array). Both round to nearest,
 * ties to even, exactly as torch's `.to(torch.float16)` / `.to(torch.bfloat16)` do, so an adapter
 * converted here is bit-identical to one converted in PyTorch.
 */

export const DTYPES = ['float32', 'float16', 'bfloat16'] as const;
export type Dtype = (typeof DTYPES)[number];

/** safetensors' dtype names. */
export const SAFETENSORS_DTYPE: Record<Dtype, 'F32' | 'F16' | 'BF16'> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
};

export const DTYPE_BYTES: Record<Dtype, number> = { float32: 4, float16: 2, bfloat16: 2 };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One float32 value as IEEE 754 binary16 bits. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    // subnormal half (or zero): shift the implicit 1 in and round to nearest even
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rem > half || (rem === half && (h & 1))) h += 1;
    return sign | h;
  }
  const rem = mant & 0x1fff;
  let h = (e << 10) | (mant >>> 13);
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h += 1; // may carry into the exponent: still correct
  return sign | h;
}

/** One float32 value as bfloat16 bits. */
export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return (x >>> 16) | 0x40; // quiet NaN
  const rounding = 0x7fff + ((x >>> 16) & 1);
  return ((x + rounding) >>> 16) & 0xffff;
}

/** IEEE binary16 bits back to a number (used by readers and tests). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function bfloat16BitsToFloat32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/**
 * Encodes float32 values as little-endian bytes of `dtype`.
 *
 * @example
 * const bytes = encodeTensor(new Float32Array([1, 2]), 'float16'); // 4 bytes
 */
export function encodeTensor(values: Float32Array, dtype: Dtype): Uint8Array {
  if (dtype === 'float32') {
    // A Float32Array already holds little-endian bytes on little-endian hosts: copy them whole.
    if (LITTLE_ENDIAN) return new Uint8Array(values.slice().buffer);
    const out = new Uint8Array(values.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
    return out;
  }
  const convert = dtype === 'float16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, convert(values[i]!), true);
  return out;
}

/** Decodes little-endian bytes of `dtype` into float32 values. */
export function decodeTensor(bytes: Uint8Array, dtype: Dtype): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = DTYPE_BYTES[dtype];
  const out = new Float32Array(bytes.byteLength / size);
  for (let i = 0; i < out.length; i++) {
    if (dtype === 'float32') out[i] = view.getFloat32(i * 4, true);
    else if (dtype === 'float16') out[i] = float16BitsToFloat32(view.getUint16(i * 2, true));
    else out[i] = bfloat16BitsToFloat32(view.getUint16(i * 2, true));
  }
  return out;
}

/**
 * The first element in `bytes[start, end)` (element indices, little-endian values of `dtype`)
 * that is ±inf or NaN, or -1. Checked on the converted bytes: rounding to nearest sends every
 * value that overflows float16 or bfloat16 to ±inf, so one pass finds non-finite values and
 * overflows at once — over 2-byte values for the half types (half the memory of a float32 pass),
 * two at a time. Integer compares on raw bits run at memory speed.
 */
export function firstNonFiniteEncoded(bytes: Uint8Array, dtype: Dtype, start: number, end: number): number {
  if (dtype === 'float32') {
    const bits = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    for (let i = start; i < end; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  const exp = dtype === 'float16' ? 0x7c00 : 0x7f80;
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  let i = start;
  if ((bytes.byteOffset + 2 * i) % 4 !== 0 && i < end) {
    if ((halves[i]! & exp) === exp) return i;
    i++;
  }
  // Two values per 32-bit word; a word with any exponent bits set in both places is looked at closely.
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset + 2 * i, (end - i) >> 1);
  for (let w = 0; w < words.length; w++) {
    const x = words[w]!;
    if ((x & exp) === exp || ((x >>> 16) & exp) === exp) {
      const j = i + 2 * w;
      return (halves[j]! & exp) === exp ? j : j + 1;
    }
  }
  for (let j = i + 2 * words.length; j < end; j++) if ((halves[j]! & exp) === exp) return j;
  return -1;
}

/**
 * Bulk float32 → bfloat16 (round to nearest even, NaN kept quiet) from `src` into `dst`, a
 * single integer pass without per-value calls: the same bits as `float32ToBfloat16Bits`.
 */
export function toBfloat16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
}
