/** Shared steps of the lifecycle suites (tiny fixture model, tenant `local` unless keys say otherwise). */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { call, startTestService, type Reply, type TestService } from './test-service.js';
import { createBlobs } from '../../src/blobs/create-blobs.js';

export const MODEL = 'fixture-text-tiny';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POST /v1/adapters for `context`, waiting for the job. */
export function post(svc: { url: string }, context: string, headers: Record<string, string> = {}): Promise<Reply> {
  return call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context } }, { prefer: 'wait=20', ...headers });
}

/** POST and expect a succeeded job; returns the adapter id. */
export async function make(svc: { url: string }, context: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await post(svc, context, headers);
  if (r.body?.status !== 'succeeded') throw new Error(`${context}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.adapter_id as string;
}

/** sha256 of the adapter's weights as downloaded (a use). */
export async function weightsSha(svc: { url: string }, id: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${svc.url}/v1/adapters/${id}/files/adapter_model.safetensors`, { headers });
  if (res.status !== 200) throw new Error(`download of ${id}: ${res.status}`);
  return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
}

export function adapterDir(svc: TestService, id: string, tenant = 'local'): string {
  return path.join(svc.config.dataDir, 'tenants', tenant, 'adapters', id);
}

/** The service's store, read as the service reads it (the filesystem, or S3 under TEST_STORE=s3). */
export const blobsOf = (svc: TestService) => createBlobs(svc.config);

/** The ids of the adapters stored for a tenant (directories, or object prefixes). */
export async function storedIds(svc: TestService, tenant = 'local'): Promise<string[]> {
  return (await blobsOf(svc).adapters(tenant)).map((a) => a.id).sort();
}

export const isStored = async (svc: TestService, id: string, tenant = 'local') => (await storedIds(svc, tenant)).includes(id);

/** True in the suites' second pass, against the object store. */
export const ON_S3 = process.env.TEST_STORE === 's3';

/** The bytes one tiny-model float32 adapter stores (every such adapter has the same size). */
export async function adapterBytes(): Promise<number> {
  const probe = await startTestService({ env: { GC_INTERVAL_SECONDS: '0' } });
  try {
    const id = await make(probe, 'probe for the size of one adapter');
    return (await call(probe.url, 'GET', `/v1/adapters/${id}`)).body.bytes as number;
  } finally {
    await probe.close();
  }
}
