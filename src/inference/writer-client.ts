/**
 * The inference thread's handle on its writer thread: `write()` moves a batch's outputs there
 * and resolves with each row's result and the buffers, moved back. A writer thread that dies is
 * replaced; the batches it held fail as retryable store errors.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { RawOutputs } from '../adapters/assemble.js';
import type { DtypeGroup } from './assemble-batch.js';
import type { ItemResult } from './thread-protocol.js';
import type { WriteReply, WriterInit } from './writer-thread.js';

const WRITER_SCRIPT = fileURLToPath(new URL('./writer-thread.js', import.meta.url));

type Reply = Omit<WriteReply, 'id'>;

export class WriterClient {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; indexes: number[] }>();

  constructor(private readonly init: WriterInit) {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const worker = new Worker(WRITER_SCRIPT, { workerData: this.init });
    worker.on('message', (reply: WriteReply) => {
      this.pending.get(reply.id)?.resolve(reply);
      this.pending.delete(reply.id);
    });
    const onDeath = (why: string) => {
      for (const p of this.pending.values()) {
        const result: ItemResult = { ok: false, error: { code: 'storage_failed', message: `the writer thread ${why}`, retryable: true } };
        p.resolve({ results: p.indexes.map((index) => ({ index, result })), assembleMs: 0, buffers: [] });
      }
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
   * const { results, buffers } = await writer.write('generative-adapter-tiny', groups, raw, owned);
   */
  write(modelId: string, groups: DtypeGroup[], raw: RawOutputs, buffers: ArrayBuffer[]): Promise<Reply> {
    const indexes = groups.flatMap((g) => g.rows.map((r) => r.index));
    if (indexes.length === 0) return Promise.resolve({ results: [], assembleMs: 0, buffers });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, indexes });
      this.worker.postMessage({ id, modelId, groups, raw, buffers }, buffers);
    });
  }
}
