/**
 * Entry point of a writer thread: one per inference thread. It receives a batch's planned files
 * with their tensor buffers transferred (moved, not copied), writes and hashes them
 * (AdapterFileWriter: vectored writes, sha256, group commit) and moves the buffers back for
 * reuse. Its own event loop is why it exists: onnxruntime's `run()` blocks the inference thread
 * for a whole forward pass, and every file-system completion queued behind it would wait that
 * long — five sequential steps per file made writing ten times slower than the disk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AdapterFileWriter, type AdapterWrite, type AdapterWriteResult } from '../store/adapter-file-writer.js';

export interface WriterInit {
  dataDir: string;
  fsync: boolean;
}

export interface WriteRequest {
  id: number;
  writes: AdapterWrite[];
  /** Buffers moved here with the request, moved back with the reply. */
  buffers: ArrayBuffer[];
}

export interface WriteReply {
  id: number;
  outcomes: AdapterWriteResult[];
  buffers: ArrayBuffer[];
}

const port = parentPort!;
const init = workerData as WriterInit;
const writer = new AdapterFileWriter({ dataDir: init.dataDir, fsync: init.fsync });

port.on('message', (req: WriteRequest) => {
  writer.writeBatch(req.writes).then(
    (outcomes) => port.postMessage({ id: req.id, outcomes, buffers: req.buffers } satisfies WriteReply, req.buffers),
    (err: unknown) => {
      const message = `could not store the batch: ${(err as Error).message ?? String(err)}`;
      port.postMessage({ id: req.id, outcomes: req.writes.map(() => ({ ok: false, message })), buffers: req.buffers } satisfies WriteReply, req.buffers);
    },
  );
});
