/**
 * The inference thread's handle on its writer thread: `write()` moves a batch's buffers there
 * and resolves with the outcomes and the buffers, moved back. A writer thread that dies is
 * replaced; the batches it held fail as retryable store errors.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { AdapterWrite, AdapterWriteResult } from '../store/adapter-file-writer.js';
import type { WriteReply, WriterInit } from './writer-thread.js';

const WRITER_SCRIPT = fileURLToPath(new URL('./writer-thread.js', import.meta.url));

export class WriterClient {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: { outcomes: AdapterWriteResult[]; buffers: ArrayBuffer[] }) => void; count: number }>();

  constructor(private readonly init: WriterInit) {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const worker = new Worker(WRITER_SCRIPT, { workerData: this.init });
    worker.on('message', (reply: WriteReply) => {
      this.pending.get(reply.id)?.resolve({ outcomes: reply.outcomes, buffers: reply.buffers });
      this.pending.delete(reply.id);
    });
    const onDeath = (why: string) => {
      for (const p of this.pending.values()) p.resolve({ outcomes: Array.from({ length: p.count }, () => ({ ok: false, message: `the writer thread ${why}` })), buffers: [] });
      this.pending.clear();
      this.worker = this.spawn();
    };
    worker.on('error', (err) => onDeath(`crashed: ${err.message}`));
    worker.on('exit', (code) => onDeath(`exited with code ${code}`));
    worker.unref();
    return worker;
  }

  /**
   * @example
   * const { outcomes, buffers } = await writer.write(writes, [f16Buffer]);
   */
  write(writes: AdapterWrite[], buffers: ArrayBuffer[]): Promise<{ outcomes: AdapterWriteResult[]; buffers: ArrayBuffer[] }> {
    if (writes.length === 0) return Promise.resolve({ outcomes: [], buffers });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, count: writes.length });
      this.worker.postMessage({ id, writes, buffers }, buffers);
    });
  }
}
