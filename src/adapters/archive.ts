/**
 * Streams an adapter directory as a tar, laid out as PEFT's `save_pretrained` writes it:
 * `<adapter id>/adapter_config.json`, `<adapter id>/adapter_model.safetensors`, … so that
 * `tar xf` gives a directory `PeftModel.from_pretrained` loads as it is. Plain by default:
 * LoRA weights are random-looking floats that gzip shrinks by ~8% at a fraction of disk speed;
 * gzip only when asked.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';

export interface ArchiveEntry {
  name: string;
  path: string;
  bytes: number;
}

/** Read in large chunks: fewer trips through the stream machinery per MB. */
const CHUNK = 1024 * 1024;

/**
 * @example
 * await writeTar(rec.id, entries, new Date(rec.created_at), res, { gzip: false });
 */
export async function writeTar(dirName: string, entries: ArchiveEntry[], mtime: Date, out: Writable, options: { gzip: boolean }): Promise<void> {
  const pack = tar.pack();
  const done = options.gzip ? pipeline(pack, createGzip(), out) : pipeline(pack, out);
  try {
    pack.entry({ name: `${dirName}/`, type: 'directory', mode: 0o755, mtime });
    for (const e of entries) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: `${dirName}/${e.name}`, size: e.bytes, mode: 0o644, mtime }, (err) => (err ? reject(err) : resolve()));
        createReadStream(e.path, { highWaterMark: CHUNK }).on('error', reject).pipe(sink);
      });
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
  }
  await done;
}
