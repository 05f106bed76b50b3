/** Messages between the API and its preview thread. */
export interface PreviewThreadInit {
  modelsDirs: string[];
  intraOpThreads: number;
  /** Most rows (requests) in one batch. */
  maxBatch: number;
}

export interface PreviewRequest {
  id: number;
  modelId: string;
  /** The prompt, template already filled. */
  prompt: string;
  /** The adapter's adapter_model.safetensors (moved to the thread, not copied). */
  adapter: Uint8Array;
  maxNew: number;
  compareBase: boolean;
}

export type PreviewReply = { id: number; ok: true; output: string; baseOutput?: string } | { id: number; ok: false; message: string };
