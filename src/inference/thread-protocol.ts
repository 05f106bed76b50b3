/** Messages between the inference pool (worker process main thread) and its threads. */
import type { Manifest } from '../models/manifest-schema.js';
import type { ResolvedOptions } from '../jobs/payloads.js';
import type { WrittenFile } from '../blobs/adapter-file-writer.js';
import type { StoreConfig } from '../config/config.js';
import type { ExtensionState } from '../adapters/extension-state.js';

export interface ThreadModel {
  id: string;
  generatorPath: string;
  /** A chunked model's combine graph (summed state → LoRA tensors). */
  combinePath?: string;
  tokenizerPath: string | null;
  manifest: Manifest;
  /** Largest batch this model runs (sizes the onnxruntime arena decision). */
  maxBatch: number;
}

export interface ThreadInit {
  models: ThreadModel[];
  executionProviders: string[];
  intraOpThreads: number;
  /** The filesystem store the threads write adapters into. */
  dataDir: string;
  fsync: boolean;
  store: StoreConfig;
  /** Output buffers a thread keeps for reuse (bytes); 0 = none. */
  bufferCacheBytes: number;
  /** Windows per forward pass of a chunked model (progress is reported, and a drop honoured, between passes). */
  chunkPassRows: number;
}

/** One adapter to generate. */
export interface GenerateItem {
  tenant: string;
  adapterId: string;
  modelSha256: string;
  /** Text fields (text models). */
  input?: Record<string, string>;
  /** Subject images as base64 8-bit RGB [H, W, 3], already resized (image models). */
  images?: string[];
  options: ResolvedOptions;
  /** Chunked models: the adapter this one extends (its closed state and last window). */
  parent?: ExtensionState;
  /** Chunked models: names the item in `progress` messages and `drop` requests. */
  progressId?: string;
}

/** Main thread → inference thread: stop reading an item's windows (its jobs were canceled). */
export interface DropMessage {
  type: 'drop';
  progressId: string;
}

export interface GenerateTask {
  type: 'generate';
  taskId: number;
  modelId: string;
  items: GenerateItem[];
}

/** A generated adapter is reported by its files' names, sizes and digests: its bytes stay in the thread. */
export type ItemResult =
  | { ok: true; files: WrittenFile[]; context?: { tokens: number; windows: number } }
  | { ok: false; error: { code: string; message: string; retryable: boolean } };

export interface TaskTimings {
  tokenizeMs: number;
  forwardMs: number;
  /** Check, dtype conversion and file planning. */
  assembleMs: number;
  /** Writing, hashing and the batch's group commit. */
  writeMs: number;
}

export type ThreadMessage =
  | { type: 'ready'; providers: Record<string, string[]> }
  | { type: 'init-failed'; message: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'result'; taskId: number; results: ItemResult[]; timings: TaskTimings }
  | { type: 'task-failed'; taskId: number; message: string }
  | { type: 'progress'; progressId: string; done: number; total: number };
