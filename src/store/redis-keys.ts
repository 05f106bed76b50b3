/**
 * Every Redis key the service writes, in one place. All tenant data lives under
 * `<prefix>:t:<tenant>:…`, so one tenant's records can never be addressed through another's.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  private t(tenant: string): string {
    return `${this.prefix}:t:${tenant}`;
  }

  /** Prefix to which a job id is appended (Lua scripts build job keys from it). */
  jobPrefix(tenant: string): string {
    return `${this.t(tenant)}:job:`;
  }
  job(tenant: string, jobId: string): string {
    return this.jobPrefix(tenant) + jobId;
  }
  jobs(tenant: string): string {
    return `${this.t(tenant)}:jobs`;
  }
  adapter(tenant: string, adapterId: string): string {
    return `${this.t(tenant)}:adapter:${adapterId}`;
  }
  adapters(tenant: string): string {
    return `${this.t(tenant)}:adapters`;
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
