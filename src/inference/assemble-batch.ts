/**
 * The writer thread's first step: a batch's converted outputs become files. Each row is checked
 * (one integer pass over its converted bytes), sliced into per-module views and planned as
 * safetensors + config files; rows that fail get their own error, the rest go to the store.
 * Running here, not in the inference thread, keeps that thread to tokenizing and forward passes.
 */
import { checkRow, sliceModules, writeAdapterFiles, type EncodedOutputs, type RawOutputs } from '../adapters/assemble.js';
import type { Dtype } from '../adapters/dtype.js';
import { GenerationError } from '../adapters/generation-error.js';
import type { AdapterFormat, Manifest } from '../models/manifest-schema.js';
import type { AdapterWrite } from '../blobs/adapter-file-writer.js';
import type { ItemResult } from './thread-protocol.js';
import { planStateFile, type ExtensionState } from '../adapters/extension-state.js';

/** One batch row to assemble. */
export interface RowToWrite {
  /** The item's index in its task. */
  index: number;
  row: number;
  tenant: string;
  adapterId: string;
  modelSha256: string;
  format: AdapterFormat;
  /** Chunked models: what extending this adapter needs, written beside its files. */
  state?: ExtensionState;
}

/** The rows of one dtype, with that dtype's converted outputs. */
export interface DtypeGroup {
  dtype: Dtype;
  encoded: EncodedOutputs;
  rows: RowToWrite[];
}

/**
 * @example
 * const { writes, failed } = assembleBatch(manifest, groups, raw);
 */
export function assembleBatch(manifest: Manifest, groups: DtypeGroup[], raw: RawOutputs): { writes: { index: number; write: AdapterWrite }[]; failed: { index: number; result: ItemResult }[] } {
  const writes: { index: number; write: AdapterWrite }[] = [];
  const failed: { index: number; result: ItemResult }[] = [];
  for (const g of groups) {
    for (const r of g.rows) {
      try {
        checkRow(manifest, g.encoded, raw, r.row, g.dtype);
        const modules = sliceModules(manifest, g.encoded, r.row, g.dtype);
        const files = writeAdapterFiles(manifest, modules, r.format, g.dtype, { adapterId: r.adapterId, modelId: manifest.id, modelSha256: r.modelSha256 });
        if (r.state) files.push(planStateFile(r.state, { adapterId: r.adapterId, modelSha256: r.modelSha256 }));
        writes.push({ index: r.index, write: { tenant: r.tenant, adapterId: r.adapterId, files } });
      } catch (err) {
        failed.push({ index: r.index, result: { ok: false, error: { code: 'generation_failed', message: (err as Error).message, retryable: !(err instanceof GenerationError) } } });
      }
    }
  }
  return { writes, failed };
}
