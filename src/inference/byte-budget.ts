/**
 * A budget of adapter bytes in flight in one worker process: a job takes its share before its
 * tensors exist and returns it once its files are written, so a burst of 7B-sized jobs waits
 * here — as a few hundred bytes of job payload — instead of as hundreds of MB of outputs.
 * First come, first served: a large job is never starved by a stream of small ones. A single
 * job larger than the whole budget runs alone rather than never.
 */
export class ByteBudget {
  private used = 0;
  private highWater = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new TypeError('limit must be > 0');
  }

  /** Bytes held now. */
  get inUse(): number {
    return this.used;
  }

  /** The most bytes ever held at once (what the backpressure test and the bench read). */
  get peak(): number {
    return this.highWater;
  }

  /**
   * Resolves with a release function once `bytes` fit.
   *
   * @example
   * const release = await budget.acquire(rowBytes); try { … } finally { release(); }
   */
  acquire(bytes: number): Promise<() => void> {
    return new Promise((resolve) => {
      this.waiting.push({ bytes, grant: () => resolve(this.releaser(bytes)) });
      this.pump();
    });
  }

  private releaser(bytes: number): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.used -= bytes;
      this.pump();
    };
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      if (this.used > 0 && this.used + next.bytes > this.limit) return;
      this.waiting.shift();
      this.used += next.bytes;
      this.highWater = Math.max(this.highWater, this.used);
      next.grant();
    }
  }
}
