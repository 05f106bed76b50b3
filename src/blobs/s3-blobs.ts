/** The S3 store: `s3://<bucket>/<prefix>/<tenant>/<adapter id>/<file>`, as LoRAX and vLLM read it. */
import { AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import { ADAPTER_ID_PATTERN, FILE_NAME_PATTERN, TENANT_PATTERN } from './adapter-layout.js';
import type { AdapterBlobs, StoredFile } from './adapter-blobs.js';
import { adapterKeyPrefix, makeS3Client, type S3StoreConfig } from './s3-client.js';

/** A missing object is undefined; any other failure (the store is down) is thrown. */
function notFound(err: { name?: string; $metadata?: { httpStatusCode?: number } }): undefined {
  if (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return undefined;
  throw err;
}

export class S3Blobs implements AdapterBlobs {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  private readonly verified = new Set<string>();

  constructor(private readonly c: S3StoreConfig) {
    this.client = makeS3Client(c);
  }

  private key(tenant: string, id: string, name?: string): string {
    if (!TENANT_PATTERN.test(tenant) || !ADAPTER_ID_PATTERN.test(id) || (name !== undefined && !FILE_NAME_PATTERN.test(name))) throw new TypeError('invalid adapter path');
    return adapterKeyPrefix(this.c, tenant, id) + (name ?? '');
  }

  private get root(): string {
    return this.c.prefix ? `${this.c.prefix}/` : '';
  }

  location(tenant: string, id: string): string {
    return `s3://${this.c.bucket}/${this.key(tenant, id)}`;
  }

  /** Size and the sha256 the writer stored as metadata (checked once per process per file). */
  async verify(tenant: string, id: string, file: StoredFile): Promise<boolean> {
    const key = this.key(tenant, id, file.name);
    if (this.verified.has(`${key}:${file.sha256}`)) return true;
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.c.bucket, Key: key })).catch(notFound);
    if (!head || head.ContentLength !== file.bytes || head.Metadata?.sha256 !== file.sha256) return false;
    if (this.verified.size >= 10000) this.verified.delete(this.verified.keys().next().value!);
    this.verified.add(`${key}:${file.sha256}`);
    return true;
  }

  async open(tenant: string, id: string, name: string, range?: { start: number; end: number }): Promise<Readable> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.c.bucket, Key: this.key(tenant, id, name), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
    return res.Body as Readable;
  }

  /** Undefined only when the object is missing: an unreachable store throws (nothing is judged lost on an outage). */
  async size(tenant: string, id: string, name: string): Promise<number | undefined> {
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.c.bucket, Key: this.key(tenant, id, name) })).catch(notFound);
    return head?.ContentLength;
  }

  /** Deletes every object under the adapter's prefix (one DeleteObject each: Swift wants Content-MD5 on DeleteObjects). */
  async remove(tenant: string, id: string): Promise<void> {
    const prefix = this.key(tenant, id);
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.c.bucket, Prefix: prefix, ContinuationToken: token }));
      await Promise.all((page.Contents ?? []).map((o) => this.client.send(new DeleteObjectCommand({ Bucket: this.c.bucket, Key: o.Key! }))));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async tenants(): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.c.bucket, Prefix: this.root, Delimiter: '/', ContinuationToken: token }));
      for (const p of page.CommonPrefixes ?? []) {
        const t = p.Prefix!.slice(this.root.length, -1);
        if (TENANT_PATTERN.test(t)) out.push(t);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  async adapters(tenant: string): Promise<{ id: string; mtimeMs: number }[]> {
    const prefix = `${this.root}${tenant}/`;
    const newest = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.c.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const id = o.Key!.slice(prefix.length).split('/')[0]!;
        if (!ADAPTER_ID_PATTERN.test(id)) continue;
        newest.set(id, Math.max(newest.get(id) ?? 0, o.LastModified?.getTime() ?? 0));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return [...newest.entries()].map(([id, mtimeMs]) => ({ id, mtimeMs })).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Incomplete multipart uploads (a writer that died mid-upload) older than `before`. */
  async removeLeftovers(tenant: string, _ids: string[], before: number): Promise<{ tempFiles: number; trash: number }> {
    let tempFiles = 0;
    const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.c.bucket, Prefix: `${this.root}${tenant}/` })).catch(() => undefined);
    for (const u of uploads?.Uploads ?? []) {
      if ((u.Initiated?.getTime() ?? 0) >= before) continue;
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.c.bucket, Key: u.Key!, UploadId: u.UploadId! })).catch(() => undefined);
      tempFiles++;
    }
    return { tempFiles, trash: 0 };
  }

  async presignedUrl(tenant: string, id: string, name: string, seconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.c.bucket, Key: this.key(tenant, id, name) }), { expiresIn: seconds });
  }
}
