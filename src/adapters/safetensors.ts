/**
 * A spec-exact safetensors writer and reader (https://github.com/huggingface/safetensors):
 * 8 bytes little-endian u64 header length N, N bytes of JSON header (padded with spaces so the
 * data starts 8-byte aligned), then the tensors' bytes back to back with no gaps. The header
 * maps each name to `{dtype, shape, data_offsets:[begin,end]}` (offsets relative to the data
 * start) plus an optional `__metadata__` string→string map. No maintained npm writer exists.
 */

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Little-endian bytes, `product(shape) * sizeof(dtype)` long. */
  data: Uint8Array;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Headers over 100 MB are refused by the reference implementation; so are they here. */
const MAX_HEADER_BYTES = 100_000_000;

/** A safetensors file as the parts it is written from: the header, then each tensor's bytes. */
export interface SafetensorsPlan {
  /** `parts[0]` is the 8-byte length + padded JSON header; then the tensors in name order. */
  parts: Uint8Array[];
  bytes: number;
}

/**
 * Lays tensors out without copying them: the header is built, the tensor bytes are referenced
 * as they are, in name order (deterministic bytes for the same input, which content-addressing
 * relies on). A writer sends `parts` with one vectored write; nothing concatenates them.
 *
 * @example
 * const { parts, bytes } = planSafetensors({ w: { dtype: 'F32', shape: [2], data } }, { format: 'pt' });
 */
export function planSafetensors(tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string> = {}): SafetensorsPlan {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata value for "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const name of names) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is not a valid tensor name');
    const t = tensors[name]!;
    const size = DTYPE_SIZE[t.dtype];
    if (size === undefined) throw new SafetensorsError(`tensor "${name}": unknown dtype ${String(t.dtype)}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor "${name}": bad shape`);
    const expected = t.shape.reduce((a, b) => a * b, 1) * size;
    if (t.data.byteLength !== expected) {
      throw new SafetensorsError(`tensor "${name}": ${t.data.byteLength} bytes for shape [${t.shape}] ${t.dtype} (expected ${expected})`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
    parts.push(t.data);
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Spaces pad the header so the data starts 8-byte aligned.
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  return { parts: [head, ...parts], bytes: head.length + offset };
}

/**
 * Serialises tensors into one buffer (readers, tests and small files; the worker writes
 * `planSafetensors` parts instead).
 *
 * @example
 * const bytes = writeSafetensors({ w: { dtype: 'F32', shape: [2], data } }, { format: 'pt' });
 */
export function writeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string> = {}): Buffer {
  return Buffer.concat(planSafetensors(tensors, metadata).parts);
}

export interface ParsedSafetensors {
  metadata: Record<string, string>;
  tensors: Record<string, SafetensorsTensor>;
}

/**
 * Parses and validates a safetensors buffer: header bounds, JSON, offsets that tile the data
 * exactly (no gaps, no overlap, nothing trailing), sizes that match shape × dtype.
 */
export function readSafetensors(buf: Uint8Array): ParsedSafetensors {
  if (buf.byteLength < 8) throw new SafetensorsError('file shorter than its 8-byte header length');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES) || n > BigInt(buf.byteLength - 8)) throw new SafetensorsError('header length out of bounds');
  const headerLen = Number(n);
  const headerText = Buffer.from(buf.buffer, buf.byteOffset + 8, headerLen).toString('utf8');
  if (!headerText.startsWith('{')) throw new SafetensorsError('header must start with "{"');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerText) as Record<string, unknown>;
  } catch {
    throw new SafetensorsError('header is not valid JSON');
  }
  const dataStart = 8 + headerLen;
  const dataLen = buf.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, SafetensorsTensor> = {};
  const spans: [number, number, string][] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(`metadata "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = info.dtype as SafetensorsDtype;
    if (DTYPE_SIZE[dtype] === undefined) throw new SafetensorsError(`tensor "${name}": unknown dtype`);
    const shape = info.shape;
    const offsets = info.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor "${name}": bad shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new SafetensorsError(`tensor "${name}": bad data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end > dataLen) throw new SafetensorsError(`tensor "${name}": data_offsets out of bounds`);
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
    if (end - begin !== expected) throw new SafetensorsError(`tensor "${name}": ${end - begin} bytes for its shape (expected ${expected})`);
    spans.push([begin, end, name]);
    tensors[name] = { dtype, shape: shape as number[], data: buf.subarray(dataStart + begin, dataStart + end) };
  }
  spans.sort((a, b) => a[0] - b[0]);
  let cursor = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== cursor) throw new SafetensorsError(`tensor "${name}": data is not contiguous`);
    cursor = end;
  }
  if (cursor !== dataLen) throw new SafetensorsError('trailing bytes after the last tensor');
  return { metadata, tensors };
}
