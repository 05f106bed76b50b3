/** Messages between the inference pool (worker process main thread) and its threads. */
import type { Manifest } from '../models/manifest-schema.js';
import type { ResolvedOptions } from '../jobs/payloads.js';

export interface ThreadModel {
  id: string;
  generatorPath: string;
  tokenizerPath: string | null;
  manifest: Manifest;
}

export interface ThreadInit {
  models: ThreadModel[];
  executionProviders: string[];
  intraOpThreads: number;
}

/** One adapter to generate. */
export interface GenerateItem {
  adapterId: string;
  modelSha256: string;
  /** Text fields (text models). */
  input?: Record<string, string>;
  /** Subject images as base64 8-bit RGB [H, W, 3], already resized (image models). */
  images?: string[];
  options: ResolvedOptions;
}

export interface GenerateTask {
  type: 'generate';
  taskId: number;
  modelId: string;
  items: GenerateItem[];
}

export type ItemResult =
  | { ok: true; files: { name: string; data: Uint8Array }[] }
  | { ok: false; error: { code: string; message: string; retryable: boolean } };

export interface TaskTimings {
  tokenizeMs: number;
  forwardMs: number;
  assembleMs: number;
}

export type ThreadMessage =
  | { type: 'ready'; providers: Record<string, string[]> }
  | { type: 'init-failed'; message: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'result'; taskId: number; results: ItemResult[]; timings: TaskTimings }
  | { type: 'task-failed'; taskId: number; message: string };
