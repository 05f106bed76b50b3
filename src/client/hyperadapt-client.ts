/**
 * A typed, fetch-based client of the hyperadapt HTTP API (api-v1.md). Used by the CLI and by
 * the integration tests. Errors carry the server's status, code and message.
 */
import { createHash } from 'node:crypto';
import type { JobView } from '../store/job-view.js';
import type { AdapterView } from '../store/adapter-store.js';
import type { ModelView } from '../models/model-view.js';
import type { UsageView } from '../store/usage-view.js';
import type { DeploymentView } from '../deployments/deployments.js';

export type { JobView, AdapterView, ModelView, UsageView, DeploymentView };

export class HyperadaptApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: unknown) {
    super(message);
    this.name = 'HyperadaptApiError';
  }
}

export interface ListPage<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

export interface CreateAdapterBody {
  model: string;
  input: Record<string, string>;
  options?: { dtype?: 'float32' | 'float16' | 'bfloat16'; format?: 'peft' | 'diffusers' | 'kohya' };
  webhook?: { url: string; events?: string[] };
  metadata?: Record<string, string>;
  /** An adapter of the same model version to extend: the new one reads its context, then `input`. */
  extends?: string;
}

export interface JobEvent {
  event: string;
  job: JobView;
}

export interface ClientOptions {
  baseUrl: string;
  apiKey?: string;
  fetch?: typeof fetch;
}

/**
 * @example
 * const client = new HyperadaptClient({ baseUrl: 'http://127.0.0.1:8080' });
 * const job = await client.createAdapter({ model: 'generative-adapter-tiny', input: { context } }, { wait: 10 });
 */
export class HyperadaptClient {
  private readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    if (!/^https?:\/\//.test(options.baseUrl)) throw new TypeError('baseUrl must be an http(s) URL');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch ?? fetch;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...extra };
  }

  private async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const res = await this.send(method, path, body, headers);
    if (res.status === 204) return { status: 204, body: undefined as T };
    return { status: res.status, body: (await this.json(res, method, path)) as T };
  }

  private send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetchImpl(this.baseUrl + path, {
      method,
      headers: this.headers(body === undefined ? headers : { 'content-type': 'application/json', ...headers }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** The body as JSON; a non-2xx answer becomes the server's error. */
  private async json(res: Response, method: string, path: string): Promise<unknown> {
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new HyperadaptApiError(res.status, 'bad_response', `${method} ${path}: the server answered ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string; details?: unknown } })?.error;
      throw new HyperadaptApiError(res.status, e?.code ?? 'unknown', e?.message ?? `${method} ${path} failed with ${res.status}`, e?.details);
    }
    return parsed;
  }

  async listModels(): Promise<ModelView[]> {
    return (await this.request<{ data: ModelView[] }>('GET', '/v1/models')).body.data;
  }

  async getModel(id: string): Promise<ModelView> {
    return (await this.request<ModelView>('GET', `/v1/models/${encodeURIComponent(id)}`)).body;
  }

  /** POST /v1/adapters. `wait` sends `Prefer: wait=N`. */
  async createAdapter(body: CreateAdapterBody, opts: { wait?: number; idempotencyKey?: string } = {}): Promise<JobView> {
    const headers: Record<string, string> = {};
    if (opts.wait) headers.prefer = `wait=${opts.wait}`;
    if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
    return (await this.request<JobView>('POST', '/v1/adapters', body, headers)).body;
  }

  async getJob(id: string): Promise<JobView> {
    return (await this.request<JobView>('GET', `/v1/jobs/${encodeURIComponent(id)}`)).body;
  }

  async listJobs(q: { status?: string; limit?: number; cursor?: string } = {}): Promise<ListPage<JobView>> {
    return (await this.request<ListPage<JobView>>('GET', `/v1/jobs${query(q)}`)).body;
  }

  async cancelJob(id: string): Promise<JobView> {
    return (await this.request<JobView>('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`)).body;
  }

  async getAdapter(id: string): Promise<AdapterView> {
    return (await this.request<AdapterView>('GET', `/v1/adapters/${encodeURIComponent(id)}`)).body;
  }

  async listAdapters(q: { model?: string; limit?: number; cursor?: string } = {}): Promise<ListPage<AdapterView>> {
    return (await this.request<ListPage<AdapterView>>('GET', `/v1/adapters${query(q)}`)).body;
  }

  async deleteAdapter(id: string): Promise<void> {
    await this.request('DELETE', `/v1/adapters/${encodeURIComponent(id)}`);
  }

  /** Pins (never expires, never evicted) or unpins an adapter. */
  async setPinned(id: string, pinned: boolean): Promise<AdapterView> {
    return (await this.request<AdapterView>('PATCH', `/v1/adapters/${encodeURIComponent(id)}`, { pinned })).body;
  }

  /** Deploys an adapter to an operator-configured serving engine (202: follow its status). */
  async deploy(id: string, target: string, name?: string): Promise<DeploymentView> {
    return (await this.request<DeploymentView>('POST', `/v1/adapters/${encodeURIComponent(id)}/deployments`, { target, ...(name ? { name } : {}) })).body;
  }

  async listDeployments(id: string): Promise<ListPage<DeploymentView>> {
    return (await this.request<ListPage<DeploymentView>>('GET', `/v1/adapters/${encodeURIComponent(id)}/deployments`)).body;
  }

  async undeploy(id: string, name: string): Promise<DeploymentView> {
    return (await this.request<DeploymentView>('DELETE', `/v1/adapters/${encodeURIComponent(id)}/deployments/${encodeURIComponent(name)}`)).body;
  }

  /** Tries an adapter through its model's base: a question (the model's template) or a raw prompt. */
  async preview(id: string, body: { question?: string; prompt?: string; max_tokens?: number; compare_base?: boolean }): Promise<{ adapter_id: string; prompt: string; output: string; base_output?: string }> {
    return (await this.request<{ adapter_id: string; prompt: string; output: string; base_output?: string }>('POST', `/v1/adapters/${encodeURIComponent(id)}/generate`, body)).body;
  }

  /**
   * An image adapter's samples: a PNG, the base model's `n` samples over the adapted model's,
   * from the same noise (the same `seed` gives the same bytes).
   */
  async samples(id: string, body: { n?: number; seed?: number; class?: string; scale?: number } = {}): Promise<Buffer> {
    const path = `/v1/adapters/${encodeURIComponent(id)}/samples`;
    const res = await this.send('POST', path, body);
    if (!res.ok) await this.json(res, 'POST', path);
    return Buffer.from(await res.arrayBuffer());
  }

  /** The tenant's stored and pinned bytes, adapter count and quota. */
  async usage(): Promise<UsageView> {
    return (await this.request<UsageView>('GET', '/v1/usage')).body;
  }

  /** Downloads one file and checks it against the sha256 the adapter record lists. */
  async downloadFile(adapter: AdapterView, name: string): Promise<Buffer> {
    const file = adapter.files.find((f) => f.name === name);
    if (!file) throw new HyperadaptApiError(404, 'not_found', `adapter ${adapter.id} has no file ${name}`);
    const res = await this.fetchImpl(`${this.baseUrl}/v1/adapters/${adapter.id}/files/${encodeURIComponent(name)}`, { headers: this.headers() });
    if (!res.ok) throw new HyperadaptApiError(res.status, 'download_failed', `downloading ${name} failed with ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== file.sha256) throw new HyperadaptApiError(502, 'checksum_mismatch', `${name}: sha256 ${digest} does not match the adapter record's ${file.sha256}`);
    return bytes;
  }

  /**
   * Follows `GET /v1/jobs/{id}/events` (Server-Sent Events) until the stream ends after a
   * terminal event.
   */
  async *events(jobId: string, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    const res = await this.fetchImpl(`${this.baseUrl}/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers: this.headers({ accept: 'text/event-stream' }), signal });
    if (!res.ok || !res.body) {
      const text = await res.text();
      let msg = `events of ${jobId} failed with ${res.status}`;
      try {
        msg = JSON.parse(text).error.message ?? msg;
      } catch {
        /* keep the generic message */
      }
      throw new HyperadaptApiError(res.status, 'events_failed', msg);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let sep: number;
      while ((sep = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep).replace(/^\r?\n\r?\n/, '');
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) continue; // heartbeat comment
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) yield { event, job: JSON.parse(data.join('\n')) as JobView };
      }
    }
  }
}

function query(q: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}
