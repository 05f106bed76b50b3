/**
 * Where an adapter's files live, behind one interface: the filesystem under DATA_DIR (the
 * default; one shared filesystem across machines) or an S3-compatible object store
 * (STORE_URL=s3://bucket/prefix; any number of machines share it). Routes, lifecycle and
 * deployments use only this; the writer threads have the matching writers
 * (adapter-file-writer.ts, s3-adapter-writer.ts). Both lay an adapter out as
 * `<root>/<tenant>/…/<adapter id>/<file>`, which is what LoRAX and vLLM's loaders read.
 */
import type { Readable } from 'node:stream';

export interface StoredFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface AdapterBlobs {
  readonly kind: 'fs' | 's3';
  /** Where a user (or an engine) finds the adapter: a directory, or `s3://bucket/prefix/tenant/id/`. */
  location(tenant: string, id: string): string;
  /** True when the stored bytes are the record's (size and sha256). */
  verify(tenant: string, id: string, file: StoredFile): Promise<boolean>;
  /** The file's bytes, or one inclusive byte range of them. */
  open(tenant: string, id: string, name: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Size of a stored file, or undefined when it is missing. */
  size(tenant: string, id: string, name: string): Promise<number | undefined>;
  /** Removes every file of the adapter (nothing when there is none). */
  remove(tenant: string, id: string): Promise<void>;
  /** Tenants with stored adapters. */
  tenants(): Promise<string[]>;
  /** The adapters stored for a tenant, with the time their newest file was written. */
  adapters(tenant: string): Promise<{ id: string; mtimeMs: number }[]>;
  /**
   * Removes what an interrupted write or removal left older than `before` (ms): temp files and
   * trash on the filesystem, incomplete multipart uploads in S3. Returns how many.
   */
  removeLeftovers(tenant: string, ids: string[], before: number): Promise<{ tempFiles: number; trash: number }>;
  /** A path on this machine's filesystem (filesystem store only: hard links for deployments). */
  localPath?(tenant: string, id: string, name: string): string;
  /** A short-lived URL that GETs the file (S3 only). */
  presignedUrl?(tenant: string, id: string, name: string, seconds: number): Promise<string>;
}
