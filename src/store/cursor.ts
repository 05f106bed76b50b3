/**
 * Paging newest first over a sorted set scored by time, with opaque cursors (base64url of
 * `<score>:<id>`; a tampered cursor is a 400, not a 500). Shared by the job and adapter lists.
 */
import type { Redis } from 'ioredis';
import { AppError } from '../errors/app-error.js';

export function encodeCursor(score: number, id: string): string {
  return Buffer.from(`${score}:${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { score: number; id: string } {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = /^(\d{1,16}):([a-z]{2,3}_[0-9a-f]{1,64})$/.exec(text);
  if (!m) throw new AppError('invalid_request', 'The cursor is not one this server issued.', { details: [{ path: ['cursor'], message: 'invalid cursor' }] });
  return { score: Number(m[1]), id: m[2]! };
}

/**
 * What `load` makes of a round of ids: an item per id (undefined: not listed — expired,
 * filtered out), and how many of them it removed from the set (so the walk's offset stays right).
 */
export type PageLoader<T> = (ids: string[]) => Promise<{ items: (T | undefined)[]; removed?: number }>;

/**
 * One page of `limit` items, newest first, from `cursor` on. The set is an index of what is
 * listed, so a round of limit + 1 ids (the +1 tells whether there is more) is usually all one
 * page reads; rounds continue past ids `load` does not list.
 *
 * @example
 * const page = await pageNewestFirst(redis, keys.jobs(t), { limit: 20 }, async (ids) => ({ items: await readAll(ids) }));
 */
export async function pageNewestFirst<T>(redis: Redis, key: string, opts: { limit: number; cursor?: string }, load: PageLoader<T>): Promise<{ data: T[]; nextCursor: string | null }> {
  let max = '+inf';
  let after: string | undefined;
  if (opts.cursor) {
    const c = decodeCursor(opts.cursor);
    max = String(c.score);
    after = c.id;
  }
  const data: T[] = [];
  let offset = 0;
  let last: { score: number; id: string } | undefined;
  for (;;) {
    const rows = await redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', offset, opts.limit + 1);
    if (rows.length === 0) return { data, nextCursor: null };
    const entries: { id: string; score: number }[] = [];
    for (let i = 0; i < rows.length; i += 2) entries.push({ id: rows[i]!, score: Number(rows[i + 1]) });
    const { items, removed = 0 } = await load(entries.map((e) => e.id));
    offset += entries.length - removed;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      // Skip everything up to and including the cursor's item (same score, ids sorted desc).
      if (after !== undefined && e.score === Number(max) && e.id >= after) continue;
      const item = items[i];
      if (item === undefined) continue;
      if (data.length === opts.limit) return { data, nextCursor: last ? encodeCursor(last.score, last.id) : null };
      data.push(item);
      last = { score: e.score, id: e.id };
    }
  }
}
