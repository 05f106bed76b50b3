/**
 * A real webhook receiver on loopback for tests: it verifies every delivery with the
 * `standardwebhooks` package (as a client's receiver would), records it, and answers from a
 * per-path plan (status codes, Retry-After, or hanging past the sender's timeout).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  contentType: string;
  body: string;
  payload: any;
  /** For each of `receiver.secrets`, whether Webhook.verify accepted the delivery with it. */
  verifiedWith: boolean[];
  status: number;
  at: number;
}

export interface PlannedReply {
  status?: number;
  headers?: Record<string, string>;
  /** Never answer (until the receiver closes): the sender's timeout must give up. */
  hang?: boolean;
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Secrets to verify with; a delivery is accepted when one verifies it. */
  secrets: string[] = [];
  private readonly plans = new Map<string, PlannedReply[]>();
  private readonly hanging = new Set<http.ServerResponse>();
  private server: http.Server | undefined;
  url = '';

  /** Listens on 127.0.0.1 (port 0: any free one). */
  async start(port = 0): Promise<this> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** Replies for the next requests to `path`, in order; afterwards 200. */
  plan(path: string, replies: PlannedReply[]): void {
    this.plans.set(path, [...replies]);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const path = req.url ?? '/';
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const verifiedWith = this.secrets.map((secret) => {
      try {
        new Webhook(secret).verify(body, headers);
        return true;
      } catch {
        return false;
      }
    });
    const reply = this.plans.get(path)?.shift() ?? {};
    const status = verifiedWith.some(Boolean) ? reply.status ?? 200 : 401;
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      payload = undefined;
    }
    this.received.push({
      path,
      id: headers['webhook-id'] ?? '',
      timestamp: headers['webhook-timestamp'] ?? '',
      signature: headers['webhook-signature'] ?? '',
      contentType: headers['content-type'] ?? '',
      body,
      payload,
      verifiedWith,
      status: reply.hang ? 0 : status,
      at: Date.now(),
    });
    if (reply.hang) {
      this.hanging.add(res);
      return;
    }
    res.writeHead(status, reply.headers ?? {});
    res.end();
  }

  /** Deliveries to one path. */
  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Resolves once `check` holds, polling every 20 ms; rejects after `timeoutMs`. */
  async waitFor(check: () => boolean, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`receiver condition not met within ${timeoutMs} ms (received ${this.received.length})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
