/** Opaque paging cursors: base64url of `<score>:<id>`. A tampered cursor is a 400, not a 500. */
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
