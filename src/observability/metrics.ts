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
  readonly adaptersEvicted: client.Counter;
  readonly adaptersExpired: client.Counter;
  readonly gcRemoved: client.Counter<'kind'>;
  readonly gcRuns: client.Counter<'outcome'>;
  readonly tenantWait: client.Histogram<'tenant'>;
  private tenantJobsSource: (() => Promise<{ tenant: string; queued: number; running: number; deferred: number }[]>) | undefined;
  private usageSource: (() => Promise<{ tenant: string; bytes: number; pinnedBytes: number }[]>) | undefined;
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
    this.adaptersEvicted = new client.Counter({ name: 'hyperadapt_adapters_evicted_total', help: "Adapters evicted (least recently used first) to keep a tenant within its storage quota", registers });
    this.adaptersExpired = new client.Counter({ name: 'hyperadapt_adapters_expired_total', help: 'Adapters removed by the sweeper because they were not used within ADAPTER_TTL_SECONDS', registers });
    this.gcRemoved = new client.Counter({ name: 'hyperadapt_gc_removed_total', help: 'What the sweeper removed or repaired: orphan_dir (no index entry), temp_file, trash, lost (index entry whose files were gone)', labelNames: ['kind'], registers });
    this.gcRuns = new client.Counter({ name: 'hyperadapt_gc_runs_total', help: 'Sweeper runs by outcome (ran, locked: another worker held the lock, failed)', labelNames: ['outcome'], registers });
    this.tenantWait = new client.Histogram({ name: 'hyperadapt_tenant_wait_seconds', help: "Time from a request to its computation starting, by tenant (including any wait for the tenant's turn)", labelNames: ['tenant'], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300], registers });
    const self = this;
    new client.Gauge({
      name: 'hyperadapt_tenant_jobs', help: "A tenant's jobs by state: queued and running job records, and computations deferred (waiting for the tenant's turn)", labelNames: ['tenant', 'state'], registers,
      async collect() {
        if (!self.tenantJobsSource) return;
        this.reset();
        for (const t of await self.tenantJobsSource().catch(() => [])) {
          this.set({ tenant: t.tenant, state: 'queued' }, t.queued);
          this.set({ tenant: t.tenant, state: 'running' }, t.running);
          this.set({ tenant: t.tenant, state: 'deferred' }, t.deferred);
        }
      },
    });
    new client.Gauge({
      name: 'hyperadapt_tenant_stored_bytes', help: "Bytes of a tenant's stored adapters (kind=all) and of its pinned ones (kind=pinned)", labelNames: ['tenant', 'kind'], registers,
      async collect() {
        if (!self.usageSource) return;
        this.reset();
        for (const u of await self.usageSource().catch(() => [])) {
          this.set({ tenant: u.tenant, kind: 'all' }, u.bytes);
          this.set({ tenant: u.tenant, kind: 'pinned' }, u.pinnedBytes);
        }
      },
    });
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

  /** Reports every tenant's queued, running and deferred work at every scrape. */
  watchTenantJobs(source: () => Promise<{ tenant: string; queued: number; running: number; deferred: number }[]>): void {
    this.tenantJobsSource = source;
  }

  /** Reports every tenant's stored bytes at every scrape. */
  watchUsage(source: () => Promise<{ tenant: string; bytes: number; pinnedBytes: number }[]>): void {
    this.usageSource = source;
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
