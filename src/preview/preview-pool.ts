/**
 * The API's side of previews: one preview thread, started on first use, with bounds — at most
 * `maxPending` previews queued (more: 429), each answered within `timeoutMs` (else 503) — so a
 * flood of previews is refused at once instead of hanging requests.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AppError } from '../errors/app-error.js';
import type { RgbImage } from '../runners/image-grid.js';
import type { GenerateRequest, PreviewReply, PreviewRequest, PreviewThreadInit, SamplesRequest } from './preview-protocol.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface PreviewPoolOptions extends PreviewThreadInit {
  maxPending: number;
  timeoutMs: number;
}

const THREAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'preview-thread.js');

/**
 * @example
 * const { output, baseOutput } = await pool.generate({ modelId, prompt, adapter, maxNew: 8, compareBase: true });
 */
export class PreviewPool {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: PreviewReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private closed = false;

  constructor(private readonly o: PreviewPoolOptions) {}

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(THREAD, { workerData: { modelsDirs: this.o.modelsDirs, intraOpThreads: this.o.intraOpThreads, maxBatch: this.o.maxBatch } satisfies PreviewThreadInit });
    w.on('message', (r: PreviewReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      clearTimeout(p.timer);
      this.pending.delete(r.id);
      p.resolve(r);
    });
    w.on('error', (err) => this.failAll(err));
    w.on('exit', () => {
      this.failAll(new Error('the preview thread stopped'));
      this.worker = undefined;
    });
    w.unref();
    this.worker = w;
    return w;
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }

  /** A text adapter's greedy answer, and the base's with `compareBase`. */
  async generate(req: Omit<GenerateRequest, 'id' | 'kind'>): Promise<{ output: string; baseOutput?: string }> {
    const reply = await this.request({ ...req, kind: 'generate' });
    if (!('output' in reply)) throw new Error('preview failed: the thread answered a text preview without an output');
    return { output: reply.output, ...(reply.baseOutput !== undefined ? { baseOutput: reply.baseOutput } : {}) };
  }

  /** An image adapter's samples grid: the base's samples over the adapted model's, same noise. */
  async samples(req: Omit<SamplesRequest, 'id' | 'kind'>): Promise<RgbImage> {
    const reply = await this.request({ ...req, kind: 'samples' });
    if (!('grid' in reply)) throw new Error('preview failed: the thread answered a samples preview without a grid');
    return reply.grid;
  }

  private async request(req: DistributiveOmit<PreviewRequest, 'id'>): Promise<Extract<PreviewReply, { ok: true }>> {
    if (this.closed) throw new AppError('unavailable', 'The server is shutting down.', { retryAfter: 2 });
    if (this.pending.size >= this.o.maxPending) {
      throw new AppError('rate_limited', `${this.o.maxPending} previews are already waiting on this server; retry shortly.`, { retryAfter: 1 });
    }
    const id = this.nextId++;
    const reply = await new Promise<PreviewReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AppError('unavailable', `The preview did not finish within ${this.o.timeoutMs} ms; the server is busy, retry shortly.`, { retryAfter: 2 }));
      }, this.o.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const adapter = req.adapter;
      this.thread().postMessage({ ...req, id } satisfies PreviewRequest, [adapter.buffer as ArrayBuffer]);
    });
    if (!reply.ok) throw new Error(`preview failed: ${reply.message}`);
    return reply;
  }

  /**
   * Idempotent. Asks the thread to finish its batch and release its sessions (onnxruntime aborts
   * the whole process when a thread is terminated in the middle of a run); terminates it only
   * if it has not ended within 30 s.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('closed'));
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ close: true });
    const timer = setTimeout(() => void w.terminate(), 30_000);
    await exited;
    clearTimeout(timer);
  }
}
