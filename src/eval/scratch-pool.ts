/**
 * An inference pool outside the service, for evaluation and tests: the same threads and code
 * path as the worker, writing adapters into a private scratch store that is read back from disk
 * (exactly the files the service would serve) and removed on close.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferencePool } from '../inference/inference-pool.js';
import type { LoadedModel } from '../models/model-registry.js';
import type { Logger } from '../logging/logger.js';
import { AdapterLayout } from '../blobs/adapter-layout.js';

export const SCRATCH_TENANT = 'scratch';

export interface ScratchPool {
  pool: InferencePool;
  /** The bytes of a file the pool wrote for `adapterId`. */
  read(adapterId: string, name: string): Uint8Array;
  close(): Promise<void>;
}

/**
 * @example
 * const s = openScratchPool([model], log); await s.pool.ready(); … s.read(id, 'adapter_model.safetensors');
 */
export function openScratchPool(models: LoadedModel[], log: Logger, options: { intraOpThreads?: number; threads?: number } = {}): ScratchPool {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hyperadapt-scratch-'));
  const layout = new AdapterLayout(dataDir);
  const pool = new InferencePool({
    threads: options.threads ?? 1,
    log,
    init: {
      models: models.map((m) => ({
        id: m.manifest.id,
        generatorPath: m.generatorPath,
        ...(m.combinePath ? { combinePath: m.combinePath } : {}),
        tokenizerPath: m.manifest.condition.kind === 'text' ? path.join(m.dir, m.manifest.condition.tokenizer) : null,
        manifest: m.manifest,
        maxBatch: m.manifest.max_batch ?? 32,
      })),
      executionProviders: ['cpu'],
      intraOpThreads: options.intraOpThreads ?? 1,
      dataDir,
      fsync: false,
      store: { kind: 'fs' },
      chunkPassRows: 16,
      bufferCacheBytes: 512 * 1024 * 1024,
    },
  });
  return {
    pool,
    read: (adapterId, name) => new Uint8Array(readFileSync(layout.file(SCRATCH_TENANT, adapterId, name))),
    close: async () => {
      await pool.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
