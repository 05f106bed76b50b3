import type { RgbImage } from '../runners/image-grid.js';

/** Messages between the API and its preview thread. */
export interface PreviewThreadInit {
  modelsDirs: string[];
  intraOpThreads: number;
  /** Most rows (requests) in one batch. */
  maxBatch: number;
}

/** A text adapter's greedy answer (and optionally the base's). */
export interface GenerateRequest {
  kind: 'generate';
  id: number;
  modelId: string;
  /** The prompt, template already filled. */
  prompt: string;
  /** The adapter's adapter_model.safetensors (moved to the thread, not copied). */
  adapter: Uint8Array;
  maxNew: number;
  compareBase: boolean;
}

/** An image adapter's samples next to the base's, from the same seeded noise. */
export interface SamplesRequest {
  kind: 'samples';
  id: number;
  modelId: string;
  /** The adapter's pytorch_lora_weights.safetensors (moved, not copied). */
  adapter: Uint8Array;
  n: number;
  seed: number;
  /** Index into the base's `diffusion.classes`. */
  classIndex: number;
}

export type PreviewRequest = GenerateRequest | SamplesRequest;


export type PreviewReply =
  | { id: number; ok: true; output: string; baseOutput?: string }
  | { id: number; ok: true; grid: RgbImage }
  | { id: number; ok: false; message: string };
