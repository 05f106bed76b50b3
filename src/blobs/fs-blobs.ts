/** The filesystem store: `DATA_DIR/tenants/<tenant>/adapters/<id>/<file>`. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ADAPTER_ID_PATTERN, AdapterLayout, TENANT_PATTERN } from './adapter-layout.js';
import type { AdapterBlobs, StoredFile } from './adapter-blobs.js';

const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;
const CHUNK = 1024 * 1024;

export class FsBlobs implements AdapterBlobs {
  readonly kind = 'fs' as const;
  readonly layout: AdapterLayout;
  private readonly verified = new Set<string>();

  constructor(dataDir: string) {
    this.layout = new AdapterLayout(dataDir);
  }

  location(tenant: string, id: string): string {
    return this.layout.adapterDir(tenant, id);
  }

  localPath(tenant: string, id: string, name: string): string {
    return this.layout.file(tenant, id, name);
  }

  /** Hashes a file once per (path, size, mtime), not on every download. */
  async verify(tenant: string, id: string, file: StoredFile): Promise<boolean> {
    const p = this.layout.file(tenant, id, file.name);
    const st = await fs.stat(p).catch(() => undefined);
    if (!st) return false;
    const key = `${p}:${st.size}:${st.mtimeMs}:${file.sha256}`;
    if (this.verified.has(key)) return true;
    if (st.size !== file.bytes) return false;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(p, { highWaterMark: CHUNK })) hash.update(chunk as Buffer);
    if (hash.digest('hex') !== file.sha256) return false;
    if (this.verified.size >= 10000) this.verified.delete(this.verified.keys().next().value!);
    this.verified.add(key);
    return true;
  }

  async open(tenant: string, id: string, name: string, range?: { start: number; end: number }): Promise<Readable> {
    const handle = await fs.open(this.layout.file(tenant, id, name), 'r');
    return handle.createReadStream({ highWaterMark: CHUNK, ...(range ?? {}), autoClose: true });
  }

  /** Undefined only when the file is missing; another failure (a lost mount) is thrown. */
  async size(tenant: string, id: string, name: string): Promise<number | undefined> {
    const st = await fs.stat(this.layout.file(tenant, id, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
      throw err;
    });
    return st?.size;
  }

  /** Renamed into tmp first, so nobody ever sees a half-deleted adapter directory. */
  async remove(tenant: string, id: string): Promise<void> {
    const trash = path.join(this.layout.tmpDir(), `deleted.${id}.${randomBytes(6).toString('hex')}`);
    await fs.mkdir(path.dirname(trash), { recursive: true });
    await fs.rename(this.layout.adapterDir(tenant, id), trash).then(
      () => fs.rm(trash, { recursive: true, force: true }),
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      },
    );
  }

  async tenants(): Promise<string[]> {
    return (await fs.readdir(path.join(this.layout.dataDir, 'tenants')).catch(() => [] as string[])).filter((t) => TENANT_PATTERN.test(t)).sort();
  }

  async adapters(tenant: string): Promise<{ id: string; mtimeMs: number }[]> {
    const names = (await fs.readdir(this.layout.tenantDir(tenant)).catch(() => [] as string[])).filter((n) => ADAPTER_ID_PATTERN.test(n)).sort();
    const out: { id: string; mtimeMs: number }[] = [];
    for (const id of names) {
      const st = await fs.stat(this.layout.adapterDir(tenant, id)).catch(() => undefined);
      if (st) out.push({ id, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  async removeLeftovers(tenant: string, ids: string[], before: number): Promise<{ tempFiles: number; trash: number }> {
    let tempFiles = 0;
    for (const id of ids) {
      const dir = this.layout.adapterDir(tenant, id);
      for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
        if (!TEMP_FILE.test(name)) continue;
        const st = await fs.stat(path.join(dir, name)).catch(() => undefined);
        if (st && st.mtimeMs < before && (await fs.rm(path.join(dir, name), { force: true }).then(() => true, () => false))) tempFiles++;
      }
    }
    // Deletions interrupted between their rename into DATA_DIR/tmp and the rm.
    let trash = 0;
    const tmp = this.layout.tmpDir();
    for (const name of (await fs.readdir(tmp).catch(() => [] as string[])).filter((x) => x.startsWith('deleted.'))) {
      const st = await fs.stat(path.join(tmp, name)).catch(() => undefined);
      if (!st || st.mtimeMs >= before) continue;
      await fs.rm(path.join(tmp, name), { recursive: true, force: true });
      trash++;
    }
    return { tempFiles, trash };
  }
}
