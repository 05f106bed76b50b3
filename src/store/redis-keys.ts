/**
 * Every Redis key the service writes, in one place. All tenant data lives under
 * `<prefix>:t:<tenant>:…`, so one tenant's records can never be addressed through another's.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  private t(tenant: string): string {
    return `${this.prefix}:t:${tenant}`;
  }

  /** Prefix of every key of one tenant (Lua scripts build per-adapter keys from it). */
  tenantPrefix(tenant: string): string {
    return `${this.t(tenant)}:`;
  }

  /** Prefix to which a job id is appended (Lua scripts build job keys from it). */
  jobPrefix(tenant: string): string {
    return `${this.t(tenant)}:job:`;
  }
  job(tenant: string, jobId: string): string {
    return this.jobPrefix(tenant) + jobId;
  }
  /** The tenant's job ids by creation time (ms). */
  jobs(tenant: string): string {
    return `${this.t(tenant)}:jobs`;
  }
  /** The tenant's job ids in one status, by creation time: the index behind `?status=`. */
  jobsByStatus(tenant: string, status: string): string {
    return `${this.t(tenant)}:jobs:s:${status}`;
  }
  /**
   * One adapter's index entry (hash): `record` (the JSON served), `created_ms`, `used_ms`,
   * `model`, `bytes`, `pinned`, and the download lease `lease_n`/`lease_until`.
   */
  adapter(tenant: string, adapterId: string): string {
    return `${this.t(tenant)}:adapter:${adapterId}`;
  }
  /** The tenant's adapter ids by creation time (ms). */
  adapters(tenant: string): string {
    return `${this.t(tenant)}:adapters`;
  }
  /** The tenant's adapter ids of one model, by creation time: the index behind `?model=`. */
  adaptersByModel(tenant: string, model: string): string {
    return `${this.t(tenant)}:adapters:m:${model}`;
  }
  /** Unpinned adapters by last use (ms): eviction order and expiry. */
  lru(tenant: string): string {
    return `${this.t(tenant)}:lru`;
  }
  /** The tenant's stored bytes, pinned bytes and adapter count (hash), kept by the scripts. */
  usage(tenant: string): string {
    return `${this.t(tenant)}:usage`;
  }
  /** Why a removed adapter is gone ("expired <ms>", "evicted <ms>", …), kept for a while. */
  gone(tenant: string, adapterId: string): string {
    return `${this.t(tenant)}:gone:${adapterId}`;
  }
  /** Set while an adapter's files are being removed: a regeneration waits for it to clear. */
  removing(tenant: string, adapterId: string): string {
    return `${this.t(tenant)}:removing:${adapterId}`;
  }
  /** Tenants that have stored adapters (the sweeper's work list). */
  tenants(): string {
    return `${this.prefix}:tenants`;
  }
  /** An adapter's deployments (hash: name → deployment JSON). */
  deployments(tenant: string, adapterId: string): string {
    return `${this.t(tenant)}:deploy:${adapterId}`;
  }
  /** Who holds each name on a deployment target (hash: name → "<tenant> <adapter id>"). */
  deployNames(target: string): string {
    return `${this.prefix}:deploy-names:${target}`;
  }
  /** Prefix of the fair scheduler's keys (src/scheduling/fair-scripts.ts lists them). */
  fairPrefix(): string {
    return `${this.prefix}:fair:`;
  }
  /** The sweeper's lock (one sweep at a time across every worker). */
  gcLock(): string {
    return `${this.prefix}:gc:lock`;
  }
  /** Where the sweeper's bounded directory and index walks resume (hash). */
  gcCursor(): string {
    return `${this.prefix}:gc:cursor`;
  }
  /** The computation currently producing an adapter (string: computation id). */
  computation(tenant: string, adapterId: string): string {
    return `${this.t(tenant)}:comp:${adapterId}`;
  }
  waitersPrefix(tenant: string): string {
    return `${this.t(tenant)}:compwait:`;
  }
  /** The jobs waiting on one computation (set of job ids). */
  waiters(tenant: string, computation: string): string {
    return this.waitersPrefix(tenant) + computation;
  }
  idempotency(tenant: string, keyHash: string): string {
    return `${this.t(tenant)}:idem:${keyHash}`;
  }
  /** Pub/sub channel on which job state changes are announced. */
  events(): string {
    return `${this.prefix}:events`;
  }
  /** Stream of webhook events to deliver, written by the job scripts (all tenants, one stream). */
  webhookOutbox(): string {
    return `${this.prefix}:webhook-outbox`;
  }
  /** The tenant's signing secrets (hash: current, previous, rotated_ms). */
  webhookSecret(tenant: string): string {
    return `${this.t(tenant)}:webhook-secret`;
  }
  /** Every delivery attempt for one job (list of JSON entries, oldest first). */
  deliveries(tenant: string, jobId: string): string {
    return `${this.t(tenant)}:deliveries:${jobId}`;
  }
  /** URLs that answered 410 Gone (hash: url → epoch ms of the 410). */
  webhookGone(tenant: string): string {
    return `${this.t(tenant)}:webhook-gone`;
  }
}
