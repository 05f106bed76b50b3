/**
 * Jest global setup: the object store the S3 suites need. Starts Swift (test/services/swift.sh)
 * when nothing answers at the test endpoint, and creates the test bucket; the teardown stops
 * what this started.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBucket, s3Healthy } from './s3-env.js';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/services/swift.sh');

export default async function setup(): Promise<void> {
  if (!(await s3Healthy())) {
    const r = spawnSync('bash', [SCRIPT, 'start'], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the tests need an S3-compatible store: ${SCRIPT} start failed (Debian: apt-get install swift swift-proxy swift-account swift-container swift-object python3-swift memcached; .ci/run does)`);
    process.env.HYPERADAPT_TEST_STARTED_SWIFT = '1';
  }
  await ensureBucket();
}

export async function teardown(): Promise<void> {
  if (process.env.HYPERADAPT_TEST_STARTED_SWIFT) spawnSync('bash', [SCRIPT, 'stop'], { stdio: 'inherit' });
}
