/**
 * Entry point of a writer thread: one per inference thread. It receives a batch's outputs with
 * their buffers transferred (moved, not copied), assembles each row's files (check, per-module
 * views, safetensors plan), writes and hashes them (AdapterFileWriter: vectored writes, sha256,
 * group commit) and moves the buffers back for reuse. Its own event loop is why it exists:
 * onnxruntime's `run()` blocks the inference thread for a whole forward pass, and every
 * file-system completion queued behind it would wait that long.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AdapterFileWriter } from '../blobs/adapter-file-writer.js';
import { S3AdapterWriter } from '../blobs/s3-adapter-writer.js';
import type { StoreConfig } from '../config/config.js';
import type { RawOutputs } from '../adapters/assemble.js';
import type { Manifest } from '../models/manifest-schema.js';
import { assembleBatch, type DtypeGroup } from './assemble-batch.js';
import type { ItemResult } from './thread-protocol.js';

export interface WriterInit {
  dataDir: string;
  fsync: boolean;
  /** Where adapters go: the filesystem under dataDir, or S3. */
  store: StoreConfig;
  manifests: Record<string, Manifest>;
}

export interface WriteRequest {
  id: number;
  modelId: string;
  groups: DtypeGroup[];
  /** The float32 outputs (they tell a non-finite value from an overflow). */
  raw: RawOutputs;
  /** Buffers moved here with the request, moved back with the reply. */
  buffers: ArrayBuffer[];
}

export interface WriteReply {
  id: number;
  results: { index: number; result: ItemResult }[];
  assembleMs: number;
  buffers: ArrayBuffer[];
}

const port = parentPort!;
const init = workerData as WriterInit;
const writer = init.store.kind === 's3' ? new S3AdapterWriter(init.store) : new AdapterFileWriter({ dataDir: init.dataDir, fsync: init.fsync });

async function handle(req: WriteRequest): Promise<Omit<WriteReply, 'id' | 'buffers'>> {
  const t0 = performance.now();
  const manifest = init.manifests[req.modelId];
  if (!manifest) throw new Error(`model ${req.modelId} is not known to the writer`);
  const { writes, failed } = assembleBatch(manifest, req.groups, req.raw);
  const assembleMs = performance.now() - t0;
  const outcomes = await writer.writeBatch(writes.map((w) => w.write));
  const results = [...failed];
  outcomes.forEach((o, k) => {
    // A store failure (full disk, a lost mount) is transient: the job is retried.
    results.push({ index: writes[k]!.index, result: o.ok ? { ok: true, files: o.files } : { ok: false, error: { code: 'storage_failed', message: o.message, retryable: true } } });
  });
  return { results, assembleMs };
}

port.on('message', (req: WriteRequest) => {
  handle(req).then(
    (r) => port.postMessage({ id: req.id, ...r, buffers: req.buffers } satisfies WriteReply, req.buffers),
    (err: unknown) => {
      const message = `could not store the batch: ${(err as Error).message ?? String(err)}`;
      const results = req.groups.flatMap((g) => g.rows.map((r) => ({ index: r.index, result: { ok: false, error: { code: 'storage_failed', message, retryable: true } } as ItemResult })));
      port.postMessage({ id: req.id, results, assembleMs: 0, buffers: req.buffers } satisfies WriteReply, req.buffers);
    },
  );
});
