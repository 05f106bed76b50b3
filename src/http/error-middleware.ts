/**
 * The one error middleware: maps typed errors, body-parser errors and Redis outages onto the
 * error body of api-v1.md. Anything else is a 500 whose details go to the log under an
 * `errorId`; the client sees only that id, never a stack trace.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler } from 'express';
import { AppError, isAppError, type ErrorCode } from '../errors/app-error.js';
import type { Logger } from '../logging/logger.js';

/** True for the errors ioredis raises when Redis cannot be reached. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|enableOfflineQueue|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|connect EHOSTUNREACH|LOADING|Reached the max retries/.test(err.message);
}

const BODY_PARSER_ERRORS: Record<string, [ErrorCode, string]> = {
  'entity.parse.failed': ['invalid_request', 'The body is not valid JSON.'],
  'encoding.unsupported': ['unsupported_media_type', 'The body uses a content encoding this server does not accept.'],
  'charset.unsupported': ['unsupported_media_type', 'The body must be UTF-8 JSON.'],
  'request.aborted': ['invalid_request', 'The request body was cut off.'],
  'request.size.invalid': ['invalid_request', 'The body is shorter or longer than its Content-Length.'],
  'stream.encoding.set': ['invalid_request', 'The body could not be read.'],
  'parameters.too.many': ['invalid_request', 'Too many parameters.'],
};

/** True for an object store that cannot be reached or fails on its side (AWS SDK errors). */
export function isObjectStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { $metadata?: { httpStatusCode?: number }; $fault?: string };
  if (e.$metadata === undefined && e.$fault === undefined) return false;
  return e.$fault === 'server' || (e.$metadata?.httpStatusCode ?? 500) >= 500 || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up/.test(e.message);
}

export function toAppError(err: unknown, maxBodyBytes: number): AppError | undefined {
  if (isAppError(err)) return err;
  if (isObjectStoreUnavailable(err)) return new AppError('unavailable', 'The adapter store is unreachable; try again shortly.', { retryAfter: 2 });
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
  if (e && typeof e === 'object' && e.type === 'entity.too.large') {
    const limit = (e as { limit?: number }).limit ?? maxBodyBytes; // routes may set their own
    return new AppError('payload_too_large', `The body exceeds the limit of ${limit} bytes.`);
  }
  if (e && typeof e === 'object' && e.type && BODY_PARSER_ERRORS[e.type]) {
    const [code, message] = BODY_PARSER_ERRORS[e.type]!;
    return new AppError(code, message);
  }
  if (isRedisUnavailable(err)) return new AppError('unavailable', 'The queue store is unreachable; try again shortly.', { retryAfter: 2 });
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // e.g. the router's malformed percent-encoding (URIError with status 400)
    if (status === 404) return new AppError('not_found', 'Not found.');
    if (status === 413) return new AppError('payload_too_large', `The body exceeds the limit of ${maxBodyBytes} bytes.`);
    if (status === 415) return new AppError('unsupported_media_type', 'Unsupported content type.');
    return new AppError('invalid_request', 'The request is malformed.');
  }
  return undefined;
}

export function errorMiddleware(log: Logger, maxBodyBytes: number): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const mapped = toAppError(err, maxBodyBytes);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (mapped) {
      if (mapped.retryAfter !== undefined) res.setHeader('Retry-After', String(mapped.retryAfter));
      if (mapped.status >= 500) log.warn({ requestId: req.id, code: mapped.code }, mapped.message);
      res.status(mapped.status).json(mapped.toBody());
      return;
    }
    const errorId = randomUUID();
    log.error({ err, errorId, requestId: req.id, method: req.method, path: req.path }, 'unhandled error');
    res.status(500).json({ error: { code: 'internal_error', message: `Internal error; quote error id ${errorId} when reporting it.`, error_id: errorId } });
  };
}
