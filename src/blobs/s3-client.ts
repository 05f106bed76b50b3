/**
 * The S3 client for the configured store, shared by the API, the sweeper and the writer threads.
 * Checksums only when an operation requires them: Swift's s3api (and other S3-compatible
 * stores) refuse the aws-chunked uploads with trailing checksums that SDK v3 sends by default.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { StoreConfig } from '../config/config.js';

export type S3StoreConfig = Extract<StoreConfig, { kind: 's3' }>;

export function makeS3Client(c: S3StoreConfig): S3Client {
  return new S3Client({
    region: c.region,
    ...(c.endpoint ? { endpoint: c.endpoint } : {}),
    forcePathStyle: c.forcePathStyle,
    ...(c.accessKeyId && c.secretAccessKey ? { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK retries throttling (503 SlowDown) and network errors with backoff; the job retries beyond.
    maxAttempts: 4,
  });
}

/** `<prefix>/<tenant>/<id>/` (prefix may be empty). */
export function adapterKeyPrefix(c: S3StoreConfig, tenant: string, id: string): string {
  return `${c.prefix ? `${c.prefix}/` : ''}${tenant}/${id}/`;
}
