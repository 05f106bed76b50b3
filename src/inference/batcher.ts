/**
 * Dynamic batching, adaptive like an inference server's: while an inference thread is idle an
 * item runs at once (no added latency at low load); while all are busy, items of the same model
 * gather until a thread frees up, `maxBatch` are waiting, or the oldest has waited `maxWaitMs`,
 * and then run through one forward pass. Each caller gets its own row's result; a failed batch
 * is retried row by row, so one job's bad input can never fail its batch-mates.
 */
import type { ItemResult, GenerateItem, TaskTimings } from './thread-protocol.js';

export interface BatchRunner {
  generate(modelId: string, items: GenerateItem[]): Promise<{ results: ItemResult[]; timings: TaskTimings }>;
  /** How many forward passes can run at once (inference threads). */
  readonly threads: number;
}

export interface BatcherOptions {
  runner: BatchRunner;
  /** Largest batch per model (already capped by the model's own limit). */
  maxBatch: (modelId: string) => number;
  maxWaitMs: number;
  /** Called after every forward pass (metrics, logs). */
  onBatch?: (modelId: string, size: number, timings: TaskTimings) => void;
}

interface Waiting {
  item: GenerateItem;
  resolve: (r: { result: ItemResult; timings: TaskTimings; batchSize: number }) => void;
  reject: (e: Error) => void;
}

interface Queue {
  modelId: string;
  items: Waiting[];
  timer: NodeJS.Timeout | undefined;
}

export class Batcher {
  private readonly queues = new Map<string, Queue>();
  private closed = false;
  /** Batches dispatched and not yet finished. */
  private running = 0;

  constructor(private readonly options: BatcherOptions) {
    if (!(options.maxWaitMs >= 0)) throw new TypeError('maxWaitMs must be ≥ 0');
  }

  /**
   * @example
   * const { result } = await batcher.submit('generative-adapter-tiny', item);
   */
  submit(modelId: string, item: GenerateItem): Promise<{ result: ItemResult; timings: TaskTimings; batchSize: number }> {
    if (this.closed) return Promise.reject(new Error('the batcher is closed'));
    return new Promise((resolve, reject) => {
      const key = `${modelId}\u0000${item.options.dtype}`;
      let q = this.queues.get(key);
      if (!q) {
        q = { modelId, items: [], timer: undefined };
        this.queues.set(key, q);
      }
      q.items.push({ item, resolve, reject });
      const max = Math.max(1, this.options.maxBatch(modelId));
      if (q.items.length >= max || this.running < this.options.runner.threads) this.flush(key);
      else if (!q.timer) q.timer = setTimeout(() => this.flush(key), this.options.maxWaitMs);
    });
  }

  private flush(key: string): void {
    const q = this.queues.get(key);
    if (!q) return;
    const { modelId } = q;
    clearTimeout(q.timer);
    q.timer = undefined;
    const max = Math.max(1, this.options.maxBatch(modelId));
    while (q.items.length > 0) {
      const batch = q.items.splice(0, max);
      void this.run(modelId, batch);
      if (q.items.length < max) break;
    }
    if (q.items.length > 0) q.timer = setTimeout(() => this.flush(key), this.options.maxWaitMs);
  }

  private async run(modelId: string, batch: Waiting[]): Promise<void> {
    this.running++;
    try {
      await this.forward(modelId, batch);
    } finally {
      this.running--;
      // A thread is free: whatever gathered meanwhile goes now, as one batch per model.
      for (const [id, q] of this.queues) if (q.items.length > 0 && this.running < this.options.runner.threads) this.flush(id);
    }
  }

  private async forward(modelId: string, batch: Waiting[]): Promise<void> {
    try {
      const { results, timings } = await this.options.runner.generate(modelId, batch.map((w) => w.item));
      this.options.onBatch?.(modelId, batch.length, timings);
      batch.forEach((w, i) => w.resolve({ result: results[i]!, timings, batchSize: batch.length }));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err as Error);
        return;
      }
      // Isolate the failure: every row alone, so only the row that breaks the pass fails.
      await Promise.all(batch.map((w) => this.forward(modelId, [w])));
    }
  }

  /** Idempotent: pending items run now; new submissions are refused. */
  close(): void {
    if (this.closed) return;
    for (const id of this.queues.keys()) this.flush(id);
    this.closed = true;
  }
}
