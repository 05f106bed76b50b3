/**
 * The real S3-compatible store the tests use: OpenStack Swift with s3api (test/services/swift.sh,
 * started by the jest global setup when it is not already answering). Each test service gets its
 * own prefix in one bucket.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export const S3_TEST = {
  endpoint: process.env.TEST_S3_ENDPOINT ?? 'http://127.0.0.1:18080',
  bucket: 'hyperadapt-tests',
  accessKeyId: 'test:tester',
  secretAccessKey: 'testing',
};

/** The environment of a service storing adapters under s3://hyperadapt-tests/<prefix>. */
export function s3Env(prefix: string): Record<string, string> {
  return {
    STORE_URL: `s3://${S3_TEST.bucket}/${prefix}`,
    S3_ENDPOINT: S3_TEST.endpoint,
    S3_REGION: 'us-east-1',
    S3_FORCE_PATH_STYLE: '1',
    AWS_ACCESS_KEY_ID: S3_TEST.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_TEST.secretAccessKey,
  };
}

export function testS3Client(endpoint = S3_TEST.endpoint): S3Client {
  return new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: S3_TEST.accessKeyId, secretAccessKey: S3_TEST.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function s3Healthy(): Promise<boolean> {
  return fetch(`${S3_TEST.endpoint}/healthcheck`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
}

/** Creates the test bucket; a store that just started may answer 503 for a few seconds. */
export async function ensureBucket(endpoint = S3_TEST.endpoint): Promise<void> {
  const client = testS3Client(endpoint);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: S3_TEST.bucket }));
        return;
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
        if (attempt >= 300) throw err; // a minute: a cold Swift on a loaded machine answers 503 for a while
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    client.destroy();
  }
}
