import { Router } from 'express';
import type { Redis } from 'ioredis';

export interface Readiness {
  /** False once shutdown has begun: load balancers stop sending traffic. */
  accepting: boolean;
}

async function pingWithin(redis: Redis, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      redis.ping().then((r) => r === 'PONG'),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(redis: Redis, readiness: Readiness, modelCount: () => number): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const redisOk = await pingWithin(redis, 500);
    const models = modelCount();
    const ready = readiness.accepting && redisOk && models > 0;
    const checks = { accepting: readiness.accepting, redis: redisOk, models };
    if (ready) {
      res.json({ status: 'ready', checks });
      return;
    }
    res.setHeader('Retry-After', '2');
    res.status(503).json({ error: { code: 'unavailable', message: readiness.accepting ? 'Not ready: Redis or models unavailable.' : 'Shutting down.' }, checks });
  });
  return r;
}
