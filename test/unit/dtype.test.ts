import {
  bfloat16BitsToFloat32,
  decodeTensor,
  encodeTensor,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from '../../src/adapters/dtype.js';

describe('float16', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [65520, 0x7c00], // rounds up to infinity
    [Infinity, 0x7c00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [1e-9, 0x0000], // underflow
    [1 + 2 ** -11, 0x3c00], // tie → even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
    [0.1, 0x2e66],
  ])('%p → 0x%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('keeps NaN a NaN', () => {
    const h = float32ToFloat16Bits(NaN);
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x3ff).not.toBe(0);
  });

  it('round-trips every finite half exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(float32ToFloat16Bits(float16BitsToFloat32(h))).toBe(h === 0x8000 ? 0x8000 : h);
    }
  });
});

describe('bfloat16', () => {
  it.each([
    [1, 0x3f80],
    [-1, 0xbf80],
    [3.140625, 0x4049],
    [1 + 2 ** -8, 0x3f80], // tie → even
    [1 + 3 * 2 ** -8, 0x3f82],
  ])('%p → bits', (value, bits) => {
    expect(float32ToBfloat16Bits(value)).toBe(bits);
    expect(bfloat16BitsToFloat32(bits)).toBeCloseTo(value, 1);
  });
});

describe('encodeTensor / decodeTensor', () => {
  it('round-trips within each dtype precision', () => {
    const values = Float32Array.from([0.1, -0.25, 3.5, 1e-3]);
    expect(Array.from(decodeTensor(encodeTensor(values, 'float32'), 'float32'))).toEqual(Array.from(values));
    decodeTensor(encodeTensor(values, 'float16'), 'float16').forEach((v, i) => expect(v).toBeCloseTo(values[i]!, 3));
    decodeTensor(encodeTensor(values, 'bfloat16'), 'bfloat16').forEach((v, i) => expect(v).toBeCloseTo(values[i]!, 2));
    expect(encodeTensor(values, 'float16').byteLength).toBe(8);
  });
});
