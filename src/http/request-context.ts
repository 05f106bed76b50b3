/** Request ids, tenancy and header parsing shared by the routes. */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ApiKey } from '../auth/api-keys.js';

export type { ApiKey };
import type { RequestHandler } from 'express';
import { AppError } from '../errors/app-error.js';

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    tenant: string;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Echoes a sane client `X-Request-Id`, or makes one; every response carries it. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    req.id = given && REQUEST_ID.test(given) ? given : `req_${randomUUID().replace(/-/g, '')}`;
    res.setHeader('X-Request-Id', req.id);
    next();
  };
}

/**
 * Bearer-key authentication. With no keys configured the server is open as tenant `local`
 * (start-up allows that only on a loopback bind). Keys are compared as SHA-256 digests in
 * constant time, and every configured key is compared, so timing does not tell which matched.
 */
export function authenticate(keys: ApiKey[]): RequestHandler {
  return (req, _res, next) => {
    if (keys.length === 0) {
      req.tenant = 'local';
      next();
      return;
    }
    const header = req.get('authorization') ?? '';
    const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    if (!m) throw new AppError('unauthorized', 'Send an API key as "Authorization: Bearer <key>".');
    const digest = createHash('sha256').update(m[1]!).digest();
    let tenant: string | undefined;
    for (const k of keys) if (timingSafeEqual(k.hash, digest) && tenant === undefined) tenant = k.tenant;
    if (!tenant) throw new AppError('unauthorized', 'The API key is not valid.');
    req.tenant = tenant;
    next();
  };
}

/** `Prefer: wait=N` (RFC 7240), 1 ≤ N ≤ 60. Other preferences are ignored, as the RFC says. */
export function parsePreferWait(header: string | undefined): number | undefined {
  if (!header) return undefined;
  if (header.length > 1024) throw new AppError('invalid_request', 'The Prefer header is too long.');
  for (const part of header.split(',')) {
    const [pref] = part.split(';');
    const m = /^\s*wait\s*=\s*"?([^"\s]*)"?\s*$/i.exec(pref ?? '');
    if (!m) continue;
    const n = /^\d{1,3}$/.test(m[1]!) ? Number(m[1]) : NaN;
    if (!(n >= 1 && n <= 60)) {
      throw new AppError('invalid_request', 'Prefer: wait must be a whole number of seconds from 1 to 60.', { details: [{ path: ['headers', 'prefer'], message: 'wait out of range' }] });
    }
    return n;
  }
  return undefined;
}

/** `Idempotency-Key`: 1-255 printable ASCII characters. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!/^[\x20-\x7e]{1,255}$/.test(header) || header.trim() === '') {
    throw new AppError('invalid_request', 'Idempotency-Key must be 1 to 255 printable ASCII characters.', { details: [{ path: ['headers', 'idempotency-key'], message: 'invalid' }] });
  }
  return header;
}

/** Rejects bodies that are not JSON before they are read. */
export function requireJson(): RequestHandler {
  return (req, _res, next) => {
    if (!req.is('application/json')) {
      throw new AppError('unsupported_media_type', 'Send the body as application/json.');
    }
    next();
  };
}
