/** Reads a .tar or .tar.gz into name → bytes (tests only). */
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { Readable } from 'node:stream';

export async function readTarGz(bytes: Uint8Array): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') files.set(header.name, Buffer.concat(chunks));
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
  Readable.from([gzipped ? gunzipSync(bytes) : Buffer.from(bytes)]).pipe(extract);
  await done;
  return files;
}
