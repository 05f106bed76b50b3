/**
 * Output buffers kept for reuse by an inference thread. onnxruntime writes a batch's outputs
 * into buffers we hand it (preallocated fetches), so the same few ArrayBuffers serve batch after
 * batch instead of a fresh 80 MB allocation each time that only the garbage collector frees;
 * the cache holds at most `maxBytes`, so memory stays bounded by configuration, not by history.
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
    const list = this.free.get(bytes);
    const hit = list?.pop();
    if (hit) {
      this.held -= bytes;
      return hit;
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
