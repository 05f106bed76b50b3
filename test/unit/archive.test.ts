import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { ustarHeader, writeTar, ArchiveError } from '../../src/adapters/archive.js';
import { readTarGz } from '../helpers/archive.js';

describe('the adapter archive (our own ustar writer)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'archive-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const files = [
    { name: 'adapter_config.json', data: Buffer.from('{"r": 8}\n') },
    { name: 'adapter_model.safetensors', data: Buffer.alloc(3 * 1024 * 1024 + 7, 0xab) }, // spans chunks and ends mid-block
    { name: 'empty.md', data: Buffer.alloc(0) },
  ];
  for (const f of files) writeFileSync(path.join(dir, f.name), f.data);
  const entries = files.map((f) => ({ name: f.name, path: path.join(dir, f.name), bytes: f.data.length }));
  const id = `ad_${'c'.repeat(40)}`;

  it.each([false, true])('is read back exactly by GNU tar and by tar-stream (gzip %p)', async (gzip) => {
    const file = path.join(dir, `out.${gzip ? 'tgz' : 'tar'}`);
    const out = createWriteStream(file);
    await writeTar(id, entries, new Date('2026-12-01T00:00:00Z'), out, { gzip });
    await finished(out);
    const bytes = readFileSync(file);
    expect(bytes.length % 512 === 0 || gzip).toBe(true);
    const parsed = await readTarGz(new Uint8Array(bytes));
    for (const f of files) expect(parsed.get(`${id}/${f.name}`)!.equals(f.data)).toBe(true);
    const into = mkdtempSync(path.join(dir, 'x-'));
    execFileSync('tar', [gzip ? '-xzf' : '-xf', file, '-C', into]);
    for (const f of files) expect(readFileSync(path.join(into, id, f.name)).equals(f.data)).toBe(true);
    const listing = execFileSync('tar', ['-tvf', file]).toString();
    expect(listing).toMatch(/^drwxr-xr-x .* 2026-12-01 \d\d:\d\d ad_c{40}\/$/m);
  });

  it('splits a path longer than 100 bytes into prefix and name, and refuses one that cannot fit', () => {
    const long = `${'d'.repeat(90)}/${'f'.repeat(60)}`;
    const h = ustarHeader(long, 1, new Date(0), 'file');
    expect(h.subarray(0, 60).toString()).toBe('f'.repeat(60));
    expect(h.subarray(345, 435).toString()).toBe('d'.repeat(90));
    // The checksum field holds the byte sum with itself read as spaces.
    const copy = Buffer.from(h);
    copy.write('        ', 148, 'ascii');
    const sum = [...copy].reduce((a, b) => a + b, 0);
    expect(parseInt(h.subarray(148, 154).toString(), 8)).toBe(sum);
    expect(() => ustarHeader(`${'d'.repeat(10)}/${'f'.repeat(120)}`, 1, new Date(0), 'file')).toThrow(ArchiveError);
  });
});
