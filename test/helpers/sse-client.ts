/** A minimal Server-Sent Events client over fetch, recording events and comment lines. */

export interface SseEvent {
  type: string;
  id: string | undefined;
  data: any;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  /** Comment lines received (`: heartbeat`). */
  comments = 0;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  private readonly abort: AbortController;

  private constructor(readonly response: Response, abort: AbortController) {
    this.abort = abort;
    this.ended = this.read();
  }

  /** Opens the stream; rejects only on network errors (check `response.status`). */
  static async open(url: string): Promise<SseClient> {
    const abort = new AbortController();
    const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    return new SseClient(res, abort);
  }

  private async read(): Promise<void> {
    if (!this.response.body || !this.response.headers.get('content-type')?.startsWith('text/event-stream')) return;
    const reader = this.response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          this.parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch {
      /* aborted by close() */
    }
  }

  private parse(block: string): void {
    let type = 'message';
    let id: string | undefined;
    const data: string[] = [];
    let isEvent = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments++;
      else if (line.startsWith('event: ')) (type = line.slice(7)), (isEvent = true);
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('data: ')) (data.push(line.slice(6)), (isEvent = true));
    }
    if (isEvent) this.events.push({ type, id, data: JSON.parse(data.join('\n')) });
  }

  /** Resolves once `check` holds, polling every 10 ms. */
  async waitFor(check: () => boolean, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`SSE condition not met within ${timeoutMs} ms; events: ${this.events.map((e) => e.type).join(', ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.abort.abort();
  }
}
