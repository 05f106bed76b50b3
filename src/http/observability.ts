/**
 * Request logging (pino-http, one JSON line per request carrying its request id) and the HTTP
 * latency histogram, labelled by route pattern (not raw path, which would explode cardinality).
 */
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../observability/metrics.js';

export function requestLogging(log: Logger): RequestHandler {
  // Below info nothing per request is printed (5xx are logged, with their error id, by the error
  // middleware), so the per-request child logger would be work for nothing.
  if (!log.isLevelEnabled('info')) return (_req, _res, next) => next();
  return pinoHttp({
    logger: log,
    genReqId: (req) => (req as unknown as { id: string }).id,
    // The job a request created or read, so one job can be followed from POST to worker to webhook.
    customProps: (req, res) => {
      const jobId = (res as unknown as { locals?: { jobId?: string } }).locals?.jobId;
      return { requestId: (req as unknown as { id: string }).id, ...(jobId ? { jobId } : {}) };
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    // Probes and scrapes would drown the lines that matter.
    autoLogging: { ignore: (req) => ['/healthz', '/readyz', '/metrics'].includes((req.url ?? '').split('?')[0]!) },
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  }) as unknown as RequestHandler;
}

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
}
