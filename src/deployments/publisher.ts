/**
 * Publishes an adapter where an engine reads it: `<target path>/<name>/`, whole or not at all.
 * The files are hard-linked from the filesystem store (copied where the filesystem cannot link,
 * with copy-on-write where it can; streamed down from an object store), adapter_config.json is rewritten to name the served model, all
 * in a hidden directory that is renamed into place — an engine polling the directory never
 * sees a half-written adapter.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { text as readText } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';

/** A file to publish: on this filesystem (hard-linked), or a stream (an object store: copied). */
export type PublishSource = { path: string } | { open: () => Promise<Readable> };

export interface PublishInput {
  /** The adapter's files, by name. */
  files: Record<string, PublishSource>;
  /** The directory the engine reads (the target's path). */
  root: string;
  /** The adapter's name there. */
  name: string;
  /** Replaces adapter_config.json's base_model_name_or_path. */
  baseModel: string;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
    await fs.copyFile(from, to, fsc.COPYFILE_FICLONE);
  }
}

/** The published directory. */
export function publishedDir(root: string, name: string): string {
  const dir = path.join(root, name);
  if (path.dirname(dir) !== path.resolve(root)) throw new TypeError('invalid deployment name');
  return dir;
}

/** Publishes (replacing an earlier publication of the same name); returns the directory. */
export async function publish(input: PublishInput): Promise<string> {
  const final = publishedDir(input.root, input.name);
  await fs.mkdir(input.root, { recursive: true });
  const tmp = path.join(input.root, `.${input.name}.${randomBytes(6).toString('hex')}.tmp`);
  await fs.mkdir(tmp);
  try {
    for (const [name, from] of Object.entries(input.files)) {
      const to = path.join(tmp, name);
      if (name === 'adapter_config.json') {
        const text = 'path' in from ? await fs.readFile(from.path, 'utf8') : await readText(await from.open());
        const config = JSON.parse(text) as Record<string, unknown>;
        config.base_model_name_or_path = input.baseModel;
        await fs.writeFile(to, JSON.stringify(config, null, 2) + '\n');
      } else if ('path' in from) {
        await linkOrCopy(from.path, to);
      } else {
        await pipeline(await from.open(), createWriteStream(to));
      }
    }
    // Out of the way first: rename cannot replace a non-empty directory.
    await unpublish(input.root, input.name);
    await fs.rename(tmp, final);
    return final;
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Removes a publication (renamed aside first, so it disappears at once). */
export async function unpublish(root: string, name: string): Promise<void> {
  const dir = publishedDir(root, name);
  const aside = path.join(root, `.${name}.${randomBytes(6).toString('hex')}.gone`);
  try {
    await fs.rename(dir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await fs.rm(aside, { recursive: true, force: true });
}
