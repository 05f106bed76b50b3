/**
 * Streams an adapter directory as a gzipped tar, laid out as PEFT's `save_pretrained` writes it:
 * `<adapter id>/adapter_config.json`, `<adapter id>/adapter_model.safetensors`, … so that
 * `tar xzf` gives a directory `PeftModel.from_pretrained` loads as it is.
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

export async function writeTarGz(dirName: string, entries: ArchiveEntry[], mtime: Date, out: Writable): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createGzip(), out);
  try {
    pack.entry({ name: `${dirName}/`, type: 'directory', mode: 0o755, mtime });
    for (const e of entries) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: `${dirName}/${e.name}`, size: e.bytes, mode: 0o644, mtime }, (err) => (err ? reject(err) : resolve()));
        createReadStream(e.path).on('error', reject).pipe(sink);
      });
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
  }
  await done;
}
