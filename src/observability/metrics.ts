/**
 * Prometheus metrics (prom-client) on a registry of our own — not prom-client's global one, so
 * several services in one process (tests, `npm start`) never collide.
 */
import client from 'prom-client';

export interface QueueCounts {
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  readonly cache: client.Counter<'model' | 'result'>;
  readonly jobsCreated: client.Counter<'model' | 'outcome'>;
  readonly jobsFinished: client.Counter<'model' | 'status'>;
  readonly queueWait: client.Histogram<'model'>;
  readonly generation: client.Histogram<'model'>;
  readonly batchSize: client.Histogram<'model'>;
  readonly webhookDeliveries: client.Counter<'outcome'>;
  private readonly queues = new Map<string, QueueCounts>();
  private readonly budgets: { inUse: number; peak: number; limit: number }[] = [];

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) client.collectDefaultMetrics({ register: this.registry, prefix: 'hyperadapt_' });
    this.httpDuration = new client.Histogram({
      name: 'hyperadapt_http_request_duration_seconds', help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60], registers,
    });
    this.cache = new client.Counter({ name: 'hyperadapt_cache_requests_total', help: 'Adapter requests answered from the cache (hit) or by a computation (miss)', labelNames: ['model', 'result'], registers });
    this.jobsCreated = new client.Counter({ name: 'hyperadapt_jobs_created_total', help: 'Jobs created, by outcome (cached, queued, joined, idempotent)', labelNames: ['model', 'outcome'], registers });
    this.jobsFinished = new client.Counter({ name: 'hyperadapt_jobs_finished_total', help: 'Jobs ended by the worker, by status', labelNames: ['model', 'status'], registers });
    this.queueWait = new client.Histogram({ name: 'hyperadapt_queue_wait_seconds', help: 'Time from enqueue to a worker taking the computation', labelNames: ['model'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120], registers });
    this.generation = new client.Histogram({ name: 'hyperadapt_generation_seconds', help: 'Forward pass time of one batch', labelNames: ['model'], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2], registers });
    this.batchSize = new client.Histogram({ name: 'hyperadapt_batch_size', help: 'Jobs per forward pass', labelNames: ['model'], buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers });
    this.webhookDeliveries = new client.Counter({ name: 'hyperadapt_webhook_deliveries_total', help: 'Webhook delivery attempts by outcome', labelNames: ['outcome'], registers });
    const budgets = this.budgets;
    new client.Gauge({
      name: 'hyperadapt_adapter_bytes_in_flight', help: 'Adapter bytes a worker holds in flight (ADAPTER_BYTES_IN_FLIGHT bounds them): now, peak since start, limit', labelNames: ['stat'], registers,
      collect() {
        if (budgets.length === 0) return;
        this.set({ stat: 'now' }, budgets.reduce((a, b) => a + b.inUse, 0));
        this.set({ stat: 'peak' }, Math.max(...budgets.map((b) => b.peak)));
        this.set({ stat: 'limit' }, budgets.reduce((a, b) => a + b.limit, 0));
      },
    });
    const queues = this.queues;
    new client.Gauge({
      name: 'hyperadapt_queue_jobs', help: 'BullMQ jobs (computations) by queue and state', labelNames: ['queue', 'state'], registers,
      async collect() {
        for (const [name, q] of queues) {
          const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'paused').catch(() => ({}) as Record<string, number>);
          for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
        }
      },
    });
  }

  /** Reports a worker's in-flight adapter bytes (now, peak, limit) at every scrape. */
  watchBudget(budget: { inUse: number; peak: number; limit: number }): void {
    this.budgets.push(budget);
  }

  /** Reports a queue's depth by state at every scrape. */
  watchQueue(name: string, queue: QueueCounts): void {
    this.queues.set(name, queue);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
