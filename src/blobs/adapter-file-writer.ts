/**
 * Writes adapters' files to the filesystem store, from the inference threads: the bytes go from
 * the generator's output buffers to the kernel with vectored writes, hashed on the way, and never
 * reach the worker's main thread (it gets names, sizes and sha256s).
 *
 * Publishing is per file, without a temp directory per adapter: each file is written to a hidden
 * name in the adapter's directory (`.<name>.<random>.tmp`) and renamed into place, so a file
 * name only ever shows whole bytes. Readers find adapters through the Redis index, and the index
 * is written only after `writeBatch` resolves — group commit: the batch's files are written,
 * then every file and every directory the batch touched is synced in one concurrent round, then
 * the batch is reported durable. A crash before that leaves at most hidden temp files and files
 * of an adapter that no index entry points to; the retry rewrites them (same id, same input).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, promises as fs, constants as fsc, renameSync, rmSync, writevSync, fdatasync, fsync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import type { PlannedFile } from '../adapters/assemble.js';
import { AdapterLayout, FILE_NAME_PATTERN } from './adapter-layout.js';

export interface WrittenFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface AdapterWrite {
  tenant: string;
  adapterId: string;
  files: PlannedFile[];
}

export type AdapterWriteResult = { ok: true; files: WrittenFile[] } | { ok: false; message: string };

export interface AdapterFileWriterOptions {
  dataDir: string;
  /** fdatasync files and fsync directories before reporting them durable (default true). */
  fsync?: boolean;
}

/** Linux's IOV_MAX: the most buffers one writev takes. */
const IOV_MAX = 1024;

/**
 * Files up to this size are written with synchronous calls: each asynchronous step is a round
 * trip through libuv's thread pool, and a tiny adapter's three files took more time in those
 * hops than in the kernel. The writer thread is dedicated, so a few tens of microseconds of
 * blocking hold up nothing; larger files stay asynchronous so hashing overlaps the copy.
 */
const SYNC_WRITE_MAX_BYTES = 1024 * 1024;

const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);

/** A written file awaiting the batch's sync round. */
interface Unsynced {
  sync(): Promise<void>;
  close(): void | Promise<void>;
}

export class AdapterFileWriter {
  readonly layout: AdapterLayout;
  private readonly fsync: boolean;

  constructor(options: AdapterFileWriterOptions) {
    this.layout = new AdapterLayout(options.dataDir);
    this.fsync = options.fsync ?? true;
  }

  /**
   * Writes every adapter of a batch, then makes the batch durable with one fsync per directory.
   * One adapter's failure (a full disk, say) is its own result; the others still complete.
   *
   * @example
   * const [r] = await writer.writeBatch([{ tenant: 'local', adapterId, files }]);
   */
  async writeBatch(items: AdapterWrite[]): Promise<AdapterWriteResult[]> {
    const dirs = new Set<string>();
    const open: Unsynced[] = [];
    const results = await Promise.all(
      items.map(async (item): Promise<AdapterWriteResult> => {
        try {
          const dir = this.layout.adapterDir(item.tenant, item.adapterId);
          this.ensureDir(dir, dirs);
          const files = await Promise.all(item.files.map((f) => this.writeFile(dir, f, open)));
          dirs.add(dir);
          return { ok: true, files };
        } catch (err) {
          return { ok: false, message: `could not store adapter ${item.adapterId}: ${(err as Error).message}` };
        }
      }),
    );
    // Group commit: every file's bytes and every touched directory's entries are synced at once
    // — one round of concurrent syncs per batch, which the file system's journal merges. Nothing
    // is indexed before this resolves, so an earlier crash leaves only unindexed files.
    const synced = await Promise.allSettled(this.fsync ? [...open.map((h) => h.sync()), ...[...dirs].map((d) => fsyncDir(d))] : []);
    // async: a close that throws (sync for small files) is a settled rejection, not an escape.
    await Promise.allSettled(open.map(async (h) => h.close()));
    const failed = synced.find((x) => x.status === 'rejected');
    if (failed) {
      const message = `could not sync the adapter store: ${(failed as PromiseRejectedResult).reason?.message ?? failed}`;
      return results.map((r) => (r.ok ? { ok: false, message } : r));
    }
    return results;
  }

  /**
   * mkdir -p; a directory created here is fsynced with the batch (its parent's entry too). Not
   * cached: an adapter's directory is new for each adapter, and one removed by eviction must be
   * made again when the same id is regenerated. Synchronous, as the small files' writes are: the
   * call itself costs this dedicated thread what it costs the kernel, while a thread-pool round
   * trip adds a wake-up on an idle machine, and each adapter's writes wait for it.
   */
  private ensureDir(dir: string, dirty: Set<string>): void {
    const created = mkdirSync(dir, { recursive: true });
    if (created !== undefined) {
      // Every directory from the first one created up to the tenant root gets its entry synced.
      for (let d = path.dirname(dir); d.length >= path.dirname(created).length && d !== path.dirname(d); d = path.dirname(d)) dirty.add(d);
    }
  }

  /**
   * Writes one file under a hidden temp name and renames it into place; its handle stays open
   * (in `open`) for the batch's sync round.
   */
  private async writeFile(dir: string, file: PlannedFile, open: Unsynced[]): Promise<WrittenFile> {
    const final = path.join(dir, file.name);
    if (path.basename(final) !== file.name || !FILE_NAME_PATTERN.test(file.name)) throw new TypeError(`invalid file name ${file.name}`);
    const tmp = path.join(dir, `.${file.name}.${randomBytes(6).toString('hex')}.tmp`);
    if (file.bytes <= SYNC_WRITE_MAX_BYTES) return writeSmallFile(tmp, final, file, open);
    const handle = await fs.open(tmp, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
    let sha256: string;
    try {
      // The kernel copies the parts on a libuv thread while this thread hashes the same bytes.
      const written = writeAll(handle, file.parts);
      sha256 = digest(file.parts);
      const n = await written;
      if (n !== file.bytes) throw new Error(`wrote ${n} of ${file.bytes} bytes of ${file.name}`);
      await fs.rename(tmp, final);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    // fdatasync later (the bytes and the size: all a reader needs, without a journal write for times).
    open.push({ sync: () => handle.datasync(), close: () => handle.close() });
    return { name: file.name, bytes: file.bytes, sha256 };
  }
}

function digest(parts: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}

/** The synchronous path for small files (see SYNC_WRITE_MAX_BYTES); synced with the batch. */
function writeSmallFile(tmp: string, final: string, file: PlannedFile, open: Unsynced[]): WrittenFile {
  const fd = openSync(tmp, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
  try {
    let queue = file.parts.filter((p) => p.byteLength > 0);
    let total = 0;
    while (queue.length > 0) {
      const n = writevSync(fd, queue.slice(0, IOV_MAX));
      total += n;
      queue = advance(queue, n);
    }
    if (total !== file.bytes) throw new Error(`wrote ${total} of ${file.bytes} bytes of ${file.name}`);
    renameSync(tmp, final);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  open.push({ sync: () => fdatasyncAsync(fd), close: () => closeSync(fd) });
  return { name: file.name, bytes: file.bytes, sha256: digest(file.parts) };
}

/** writev until every part is written (a writev may write less than asked). */
async function writeAll(handle: fs.FileHandle, parts: Uint8Array[]): Promise<number> {
  let total = 0;
  let queue = parts.filter((p) => p.byteLength > 0);
  while (queue.length > 0) {
    const { bytesWritten } = await handle.writev(queue.slice(0, IOV_MAX));
    total += bytesWritten;
    queue = advance(queue, bytesWritten);
  }
  return total;
}

/** The parts still to write after `n` bytes went out: a partly written part continues where it stopped. */
function advance(queue: Uint8Array[], n: number): Uint8Array[] {
  if (n === 0) throw new Error('the store accepted no bytes');
  let left = n;
  let i = 0;
  while (i < queue.length && left >= queue[i]!.byteLength) left -= queue[i++]!.byteLength;
  const rest = queue.slice(i);
  if (left > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

/**
 * Only the fsync goes to the thread pool (it waits on the disk, and the batch's syncs run side
 * by side there); opening and closing the directory are microseconds, done here.
 */
async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}
