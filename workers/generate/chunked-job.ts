/**
 * What a generate job of a chunked model needs beyond any other job: the state of the adapter
 * it extends, read from the store, and a progress reporter that turns the inference thread's
 * window counts into job.progress events — and stops reading windows once every job waiting for
 * the computation was canceled.
 */
import { buffer } from 'node:stream/consumers';
import { STATE_FILE, readStateFile, type ExtensionState } from '../../src/adapters/extension-state.js';
import type { Manifest } from '../../src/models/manifest-schema.js';
import type { AdapterStore } from '../../src/store/adapter-store.js';
import type { JobStore } from '../../src/store/job-store.js';
import type { Logger } from '../../src/logging/logger.js';

/** The parent's state, or undefined when its files are gone (removed, expired, evicted since the request). */
export async function readParentState(adapters: AdapterStore, tenant: string, parentId: string, manifest: Manifest): Promise<ExtensionState | undefined> {
  let bytes: Buffer;
  try {
    bytes = await buffer(await adapters.blobs.open(tenant, parentId, STATE_FILE));
  } catch {
    return undefined;
  }
  return readStateFile(bytes, manifest.chunking!.state_size);
}

/** Progress callbacks of the chunked items in flight, by progress id (the pool's onProgress looks them up). */
export class ChunkProgress {
  private readonly handlers = new Map<string, (done: number, total: number) => void>();

  constructor(private readonly o: { jobs: () => JobStore; drop: (progressId: string) => void; log: Logger }) {}

  /** The pool's `onProgress`. */
  readonly onProgress = (progressId: string, done: number, total: number): void => this.handlers.get(progressId)?.(done, total);

  /**
   * Registers a computation; returns its progress id and the function that unregisters it.
   *
   * @example
   * const { progressId, done } = progress.track(tenant, computation); … done();
   */
  track(tenant: string, computation: string): { progressId: string; done: () => void } {
    const progressId = `${tenant}/${computation}`;
    this.handlers.set(progressId, (done, total) => {
      this.o.jobs().progress(tenant, computation, done / total).then(
        (live) => {
          if (live === 0 && done < total) this.o.drop(progressId);
        },
        (err: unknown) => this.o.log.warn({ err, computation }, 'could not record progress'),
      );
    });
    return { progressId, done: () => this.handlers.delete(progressId) };
  }
}
