/**
 * Edge protections: helmet's headers, CORS only for configured origins, and a per-key request
 * rate limit kept in Redis (rate-limiter-flexible), so it holds across API processes.
 */
import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import helmet from 'helmet';
import cors from 'cors';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors/app-error.js';

export function securityHeaders(): RequestHandler {
  // An API: no inline content to protect, but Swagger UI at /docs needs its own assets.
  return helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }) as RequestHandler;
}

export function corsFor(origins: string[]): RequestHandler {
  if (origins.length === 0) return (_req, _res, next) => next();
  return cors({ origin: origins, exposedHeaders: ['Location', 'Retry-After', 'X-Request-Id', 'ETag', 'Preference-Applied'], maxAge: 600 }) as RequestHandler;
}

/** Runs after authentication: the limit is per tenant key (req.tenant). */
export function rateLimit(redis: Redis, prefix: string, rps: number): RequestHandler {
  if (rps <= 0) return (_req, _res, next) => next();
  const limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:rl`, points: rps, duration: 1, useRedisPackage: false });
  return (req, res, next) => {
    limiter.consume(req.tenant).then(
      (r) => {
        res.setHeader('RateLimit-Limit', String(rps));
        res.setHeader('RateLimit-Remaining', String(r.remainingPoints));
        next();
      },
      (r: unknown) => {
        if (r instanceof RateLimiterRes) {
          const seconds = Math.max(1, Math.ceil(r.msBeforeNext / 1000));
          next(new AppError('rate_limited', `More than ${rps} requests per second for this key; retry in ${seconds} s.`, { retryAfter: seconds }));
        } else next(r); // Redis trouble: the error middleware answers 503
      },
    );
  };
}
