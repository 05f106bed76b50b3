/**
 * Coalesces calls made in the same event-loop turn into one batched call: a batch's rows all
 * resolve from one inference message, so each job's "finish" lands here in the same turn and
 * the whole batch ends in one Redis round trip instead of one per job.
 */
export class Coalescer<In, Out> {
  private pending: { input: In; resolve: (o: Out) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  /** `run` gets every input of one turn and must return one output per input, in order. */
  constructor(private readonly run: (inputs: In[]) => Promise<Out[]>, private readonly maxBatch = 256) {}

  /**
   * @example
   * const done = await finisher.call({ tenant, computation, … });
   */
  call(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length; i += this.maxBatch) {
      const group = all.slice(i, i + this.maxBatch);
      this.run(group.map((p) => p.input)).then(
        (outs) => group.forEach((p, k) => p.resolve(outs[k]!)),
        (err: unknown) => group.forEach((p) => p.reject(err)),
      );
    }
  }
}
