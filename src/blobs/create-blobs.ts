/** The configured store's reader side. */
import type { Config } from '../config/config.js';
import type { AdapterBlobs } from './adapter-blobs.js';
import { FsBlobs } from './fs-blobs.js';
import { S3Blobs } from './s3-blobs.js';

export function createBlobs(config: Pick<Config, 'store' | 'dataDir'>): AdapterBlobs {
  return config.store.kind === 's3' ? new S3Blobs(config.store) : new FsBlobs(config.dataDir);
}
