/**
 * Writes adapters to S3 from the writer threads: each file's sha256 is computed over the
 * generator's output views, then small files go up in one PUT and large ones as a multipart
 * upload fed from the same views (lib-storage copies them into a few 8 MiB parts in flight —
 * never the whole file). The sha256 is stored as the object's metadata; every object is then
 * HEADed and its size checked before the batch is reported stored, and the index is written
 * only after that — a failure anywhere fails the adapter (the job retries), never a visible
 * partial one.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { PlannedFile } from '../adapters/assemble.js';
import type { AdapterWrite, AdapterWriteResult, WrittenFile } from './adapter-file-writer.js';
import { FILE_NAME_PATTERN } from './adapter-layout.js';
import { adapterKeyPrefix, makeS3Client, type S3StoreConfig } from './s3-client.js';

/** Files up to this size go up in one PUT (their one copy is small); larger ones in parts. */
const SINGLE_PUT_MAX_BYTES = 8 * 1024 * 1024;
const PART_BYTES = 8 * 1024 * 1024;

export class S3AdapterWriter {
  private readonly client;

  constructor(private readonly c: S3StoreConfig) {
    this.client = makeS3Client(c);
  }

  async writeBatch(items: AdapterWrite[]): Promise<AdapterWriteResult[]> {
    return Promise.all(
      items.map(async (item): Promise<AdapterWriteResult> => {
        try {
          const files = await Promise.all(item.files.map((f) => this.put(adapterKeyPrefix(this.c, item.tenant, item.adapterId), f)));
          return { ok: true, files };
        } catch (err) {
          return { ok: false, message: `could not store adapter ${item.adapterId} in s3://${this.c.bucket}: ${(err as Error).message}` };
        }
      }),
    );
  }

  private async put(prefix: string, file: PlannedFile): Promise<WrittenFile> {
    if (!FILE_NAME_PATTERN.test(file.name)) throw new TypeError(`invalid file name ${file.name}`);
    const hash = createHash('sha256');
    for (const p of file.parts) hash.update(p);
    const sha256 = hash.digest('hex');
    const Key = prefix + file.name;
    const common = { Bucket: this.c.bucket, Key, Metadata: { sha256 }, ContentType: 'application/octet-stream' };
    if (file.bytes <= SINGLE_PUT_MAX_BYTES) {
      await this.client.send(new PutObjectCommand({ ...common, Body: Buffer.concat(file.parts), ContentLength: file.bytes }));
    } else {
      const body = Readable.from((function* () {
        for (const p of file.parts) if (p.byteLength > 0) yield p;
      })(), { objectMode: false });
      await new Upload({ client: this.client, params: { ...common, Body: body }, partSize: PART_BYTES, queueSize: 2, leavePartsOnError: false }).done();
    }
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.c.bucket, Key }));
    if (head.ContentLength !== file.bytes || head.Metadata?.sha256 !== sha256) throw new Error(`${Key} was stored as ${head.ContentLength} bytes, not ${file.bytes}`);
    return { name: file.name, bytes: file.bytes, sha256 };
  }
}
