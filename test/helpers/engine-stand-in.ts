/**
 * STAND-IN for a serving engine's runtime LoRA API (vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING:
 * `POST /v1/load_lora_adapter`, `/v1/unload_lora_adapter`; SGLang: `POST /load_lora_adapter`,
 * `/unload_lora_adapter`), on loopback. It records every request, checks its shape, and checks
 * that `lora_path` holds a directory an engine would load (the project's own PEFT/vLLM rules),
 * then answers as planned: 200 by default.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { peftProblems } from '../../src/deployments/peft-rules.js';

export interface EngineRequest {
  path: string;
  body: { lora_name?: unknown; lora_path?: unknown };
  /** What the engine would find wrong with the adapter at lora_path (loads only). */
  problems: string[];
  authorization: string | undefined;
}

export class EngineStandIn {
  readonly requests: EngineRequest[] = [];
  /** Statuses for the next requests, in order (then 200); with a body to answer. */
  replies: { status: number; body?: string }[] = [];
  private server: http.Server | undefined;
  url = '';

  constructor(private readonly opts: { maxRank?: number; servedModel?: string } = {}) {}

  /** Listens on 127.0.0.1 (port 0: any free one). */
  async start(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        let body: EngineRequest['body'] = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as EngineRequest['body'];
        } catch {
          /* recorded as an empty body */
        }
        const isLoad = /load_lora_adapter$/.test(req.url ?? '') && !/unload/.test(req.url ?? '');
        const problems = isLoad && typeof body.lora_path === 'string' ? await peftProblems(body.lora_path, { maxRank: this.opts.maxRank, baseModel: this.opts.servedModel }) : [];
        this.requests.push({ path: req.url ?? '', body, problems, authorization: req.headers.authorization });
        const planned = this.replies.shift();
        const shapeOk = typeof body.lora_name === 'string' && (!isLoad || typeof body.lora_path === 'string');
        const status = planned?.status ?? (shapeOk && problems.length === 0 ? 200 : 400);
        res.writeHead(status, { 'content-type': 'text/plain' }).end(planned?.body ?? (status === 200 ? 'Success' : problems.join('; ') || 'bad request'));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }
}
