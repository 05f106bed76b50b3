import { readSafetensors, writeSafetensors, SafetensorsError } from '../../src/adapters/safetensors.js';

/** Bytes of a file with one F32 tensor "w" = [1, 2], built by hand from the spec. */
function handBuilt(): Buffer {
  const header = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const padded = header + ' '.repeat((8 - ((8 + header.length) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(padded.length));
  const data = Buffer.alloc(8);
  data.writeFloatLE(1, 0);
  data.writeFloatLE(2, 4);
  return Buffer.concat([len, Buffer.from(padded), data]);
}

function f32(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

describe('safetensors writer', () => {
  it('writes exactly the bytes of a hand-built file', () => {
    const out = writeSafetensors({ w: { dtype: 'F32', shape: [2], data: f32([1, 2]) } });
    expect(out.equals(handBuilt())).toBe(true);
  });

  it('pads the header with spaces so data starts 8-byte aligned, and records __metadata__', () => {
    const out = writeSafetensors({ a: { dtype: 'F16', shape: [3], data: new Uint8Array(6) } }, { format: 'pt', x: 'y' });
    const n = Number(out.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(out.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).toEqual({ format: 'pt', x: 'y' });
    expect(out.subarray(8, 8 + n).toString('utf8')).toMatch(/^\{.*\} *$/);
    expect(out.length).toBe(8 + n + 6);
  });

  it('lays tensors out contiguously in name order', () => {
    const out = writeSafetensors({
      b: { dtype: 'F32', shape: [1], data: f32([2]) },
      a: { dtype: 'F32', shape: [2, 1], data: f32([0, 1]) },
    });
    const parsed = readSafetensors(out);
    const n = Number(out.readBigUInt64LE(0));
    const header = JSON.parse(out.subarray(8, 8 + n).toString('utf8'));
    expect(header.a.data_offsets).toEqual([0, 8]);
    expect(header.b.data_offsets).toEqual([8, 12]);
    expect(Buffer.from(parsed.tensors.b!.data).readFloatLE(0)).toBe(2);
  });

  it('refuses a tensor whose byte length does not match its shape', () => {
    expect(() => writeSafetensors({ w: { dtype: 'F32', shape: [3], data: f32([1, 2]) } })).toThrow(SafetensorsError);
  });
});

describe('safetensors reader', () => {
  it('round-trips tensors, shapes, dtypes and metadata', () => {
    const tensors = {
      'x.lora_A.weight': { dtype: 'F32' as const, shape: [2, 3], data: f32([1, 2, 3, 4, 5, 6]) },
      'x.lora_B.weight': { dtype: 'BF16' as const, shape: [3, 2], data: new Uint8Array(12).fill(7) },
    };
    const parsed = readSafetensors(writeSafetensors(tensors, { format: 'pt' }));
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect(Object.keys(parsed.tensors).sort()).toEqual(Object.keys(tensors).sort());
    expect(parsed.tensors['x.lora_A.weight']!.shape).toEqual([2, 3]);
    expect(Buffer.from(parsed.tensors['x.lora_A.weight']!.data).equals(Buffer.from(tensors['x.lora_A.weight'].data))).toBe(true);
    expect(parsed.tensors['x.lora_B.weight']!.dtype).toBe('BF16');
  });

  it('parses the hand-built file', () => {
    const parsed = readSafetensors(handBuilt());
    expect(parsed.tensors.w!.shape).toEqual([2]);
    expect(Buffer.from(parsed.tensors.w!.data).readFloatLE(4)).toBe(2);
  });

  it.each([
    ['too short', Buffer.alloc(4)],
    ['header length beyond the file', (() => { const b = handBuilt(); b.writeBigUInt64LE(10_000n); return b; })()],
    ['trailing bytes', Buffer.concat([handBuilt(), Buffer.alloc(4)])],
    ['truncated data', handBuilt().subarray(0, handBuilt().length - 4)],
    ['header not JSON', (() => { const b = handBuilt(); b.write('{', 8); b.write('x', 9); return b; })()],
  ])('rejects a file with %s', (_name, bytes) => {
    expect(() => readSafetensors(bytes)).toThrow(SafetensorsError);
  });

  it('rejects overlapping or gapped offsets', () => {
    const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    const padded = header + ' '.repeat((8 - ((8 + header.length) % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(padded.length));
    expect(() => readSafetensors(Buffer.concat([len, Buffer.from(padded), Buffer.alloc(12)]))).toThrow(/contiguous/);
  });
});
