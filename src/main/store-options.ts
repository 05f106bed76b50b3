/**
 * The stores' options from the config, in one place: the API and the worker must agree on
 * retention, TTL and quotas, or one would expire what the other still serves.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { AdapterStoreOptions } from '../store/adapter-store.js';
import type { JobStoreOptions } from '../store/job-store.js';
import type { RedisKeys } from '../store/redis-keys.js';
import type { TenantSettings } from '../tenants/tenant-settings.js';
import { createBlobs } from '../blobs/create-blobs.js';

export function jobStoreOptions(config: Readonly<Config>, redis: Redis, keys: RedisKeys, tenants: TenantSettings): JobStoreOptions {
  return {
    redis,
    keys,
    retentionSeconds: config.jobRetentionSeconds,
    idempotencyTtlSeconds: config.idempotencyTtlSeconds,
    maxActiveJobs: config.maxActiveJobs,
    cachedRetentionSeconds: config.jobCachedRetentionSeconds,
    maxJobsPerTenant: config.jobMaxPerTenant,
    adapterTtlSeconds: config.adapterTtlSeconds,
    quotaBytes: (tenant) => tenants.quotaBytes(tenant),
  };
}

export function adapterStoreOptions(config: Readonly<Config>, redis: Redis, keys: RedisKeys): AdapterStoreOptions {
  return { redis, keys, dataDir: config.dataDir, blobs: createBlobs(config), ttlSeconds: config.adapterTtlSeconds, tombstoneSeconds: config.jobRetentionSeconds };
}
