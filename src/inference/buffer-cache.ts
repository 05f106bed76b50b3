/**
 * Output buffers kept for reuse by an inference thread. onnxruntime writes a batch's outputs
 * into buffers we hand it (preallocated fetches), so the same few ArrayBuffers serve batch after
 * batch instead of a fresh 80 MB allocation each time that only the garbage collector frees.
 * A request is served by the smallest free buffer that holds it (up to twice its size; the caller
 * uses a view), so a batch of one reuses a batch of two's buffers: large buffers are neither
 * mapped nor unmapped in steady state — in one process with the API, the kernel's lock on the
 * address space that each big mmap/munmap takes stalled the event loop for 300 ms. The cache
 * holds at most `maxBytes`, so memory stays bounded by configuration, not by history.
 */
export class BufferCache {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private held = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * @example
   * const buf = cache.take(4 * n); … cache.give(buf);
   */
  take(bytes: number): ArrayBuffer {
    let best: number | undefined;
    for (const [size, list] of this.free) {
      if (list.length > 0 && size >= bytes && size <= 2 * bytes && (best === undefined || size < best)) best = size;
    }
    if (best !== undefined) {
      this.held -= best;
      return this.free.get(best)!.pop()!;
    }
    return new ArrayBuffer(bytes);
  }

  /** Returns a buffer for reuse; dropped (left to the GC) when the cache is full. */
  give(buf: ArrayBuffer): void {
    if (this.held + buf.byteLength > this.maxBytes) return;
    const list = this.free.get(buf.byteLength) ?? [];
    list.push(buf);
    this.free.set(buf.byteLength, list);
    this.held += buf.byteLength;
  }
}
