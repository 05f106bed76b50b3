/**
 * A pool of inference worker threads. Tasks go to the least busy thread; a thread that dies is
 * replaced and its in-flight tasks fail with a retryable error (BullMQ retries the jobs).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logging/logger.js';
import type { DropMessage, GenerateItem, ItemResult, TaskTimings, ThreadInit, ThreadMessage } from './thread-protocol.js';

const THREAD_SCRIPT = fileURLToPath(new URL('./inference-thread.js', import.meta.url));

export class InferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InferenceError';
  }
}

interface Pending {
  resolve: (r: { results: ItemResult[]; timings: TaskTimings }) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Pending>;
  ready: Promise<void>;
}

export interface InferencePoolOptions {
  threads: number;
  init: ThreadInit;
  log: Logger;
  /** Chunked models: windows read so far for an item (its `progressId`). */
  onProgress?: (progressId: string, done: number, total: number) => void;
}

export class InferencePool {
  private readonly slots: Slot[] = [];
  private nextTaskId = 1;
  private closed = false;
  private readonly options: InferencePoolOptions;
  /** Providers each model's session actually uses (after any fallback). */
  providers: Record<string, string[]> = {};

  constructor(options: InferencePoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new TypeError('threads must be a positive integer');
    this.options = options;
    for (let i = 0; i < options.threads; i++) this.slots.push(this.spawn());
  }

  get threads(): number {
    return this.options.threads;
  }

  /** Resolves when every thread has opened its sessions; rejects if one could not. */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  private spawn(): Slot {
    const worker = new Worker(THREAD_SCRIPT, { workerData: this.options.init });
    const inFlight = new Map<number, Pending>();
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => undefined);
    const slot: Slot = { worker, inFlight, ready };
    worker.on('message', (msg: ThreadMessage) => {
      if (msg.type === 'ready') {
        this.providers = msg.providers;
        markReady();
      } else if (msg.type === 'init-failed') {
        failReady(new InferenceError(`inference thread could not start: ${msg.message}`));
      } else if (msg.type === 'log') {
        this.options.log[msg.level]({ component: 'inference' }, msg.message);
      } else if (msg.type === 'result') {
        inFlight.get(msg.taskId)?.resolve({ results: msg.results, timings: msg.timings });
        inFlight.delete(msg.taskId);
      } else if (msg.type === 'progress') {
        this.options.onProgress?.(msg.progressId, msg.done, msg.total);
      } else if (msg.type === 'task-failed') {
        inFlight.get(msg.taskId)?.reject(new InferenceError(msg.message));
        inFlight.delete(msg.taskId);
      }
    });
    const onDeath = (why: string) => {
      failReady(new InferenceError(`inference thread ${why}`));
      for (const p of inFlight.values()) p.reject(new InferenceError(`inference thread ${why}`));
      inFlight.clear();
      const index = this.slots.indexOf(slot);
      if (index >= 0 && !this.closed) {
        this.options.log.error({ component: 'inference' }, `inference thread ${why}; starting a new one`);
        this.slots[index] = this.spawn();
      }
    };
    worker.on('error', (err) => onDeath(`crashed: ${err.message}`));
    worker.on('exit', (code) => {
      if (!this.closed) onDeath(`exited with code ${code}`);
    });
    return slot;
  }

  /**
   * Runs one forward pass for `items` (one batch) of one model.
   *
   * @example
   * const { results } = await pool.generate('generative-adapter-tiny', [{ adapterId, modelSha256, input, options }]);
   */
  async generate(modelId: string, items: GenerateItem[]): Promise<{ results: ItemResult[]; timings: TaskTimings }> {
    if (this.closed) throw new InferenceError('the inference pool is closed');
    const slot = this.slots.reduce((best, s) => (s.inFlight.size < best.inFlight.size ? s : best), this.slots[0]!);
    await slot.ready;
    const taskId = this.nextTaskId++;
    return new Promise((resolve, reject) => {
      slot.inFlight.set(taskId, { resolve, reject });
      slot.worker.postMessage({ type: 'generate', taskId, modelId, items });
    });
  }

  /** Stops reading a chunked item's remaining windows (its result becomes `canceled`). */
  drop(progressId: string): void {
    for (const s of this.slots) s.worker.postMessage({ type: 'drop', progressId } satisfies DropMessage);
  }

  /** Idempotent. Terminates every thread; pending tasks are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(
      this.slots.map(async (s) => {
        for (const p of s.inFlight.values()) p.reject(new InferenceError('the inference pool is closed'));
        s.inFlight.clear();
        await s.worker.terminate();
      }),
    );
  }
}
