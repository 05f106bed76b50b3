/**
 * The one JSON body parser. Beyond express.json it refuses what JSON.parse would let through but
 * nothing downstream should see: bytes that are not UTF-8, strings with lone surrogates or NUL,
 * and the keys `__proto__`, `constructor` and `prototype` (prototype-pollution vectors).
 */
import { isUtf8 } from 'node:buffer';
import { json, type RequestHandler } from 'express';
import { AppError } from '../errors/app-error.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 32;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Throws invalid_request at the first bad string or key, naming where it is. */
export function assertCleanJson(value: unknown, path: (string | number)[] = [], depth = 0): void {
  if (depth > MAX_DEPTH) throw new AppError('invalid_request', `The body nests deeper than ${MAX_DEPTH} levels.`, { details: [{ path, message: 'too deep' }] });
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new AppError('invalid_request', 'A string in the body contains a lone surrogate (not valid Unicode).', { details: [{ path, message: 'lone surrogate' }] });
    if (value.includes('\u0000')) throw new AppError('invalid_request', 'A string in the body contains a NUL character.', { details: [{ path, message: 'NUL character' }] });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertCleanJson(v, [...path, i], depth + 1));
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) throw new AppError('invalid_request', `The key "${key}" is not allowed.`, { details: [{ path: [...path, key], message: 'forbidden key' }] });
      assertCleanJson(key, [...path, key], depth + 1);
      assertCleanJson((value as Record<string, unknown>)[key], [...path, key], depth + 1);
    }
  }
}

/**
 * @example
 * router.post('/v1/adapters', jsonBody({ limit: 1 << 20 }), handler);
 */
export function jsonBody(opts: { limit: number; type?: string | ((req: unknown) => boolean) }): RequestHandler[] {
  const parse = json({
    limit: opts.limit,
    strict: true,
    type: opts.type ?? 'application/json',
    verify: (_req, _res, buf) => {
      if (!isUtf8(buf)) throw new AppError('invalid_request', 'The body is not valid UTF-8.');
    },
  });
  const check: RequestHandler = (req, _res, next) => {
    if (req.body !== undefined) assertCleanJson(req.body);
    next();
  };
  return [parse, check];
}
