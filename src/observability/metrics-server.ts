/** A bare /metrics endpoint for processes without the API (worker processes, METRICS_PORT). */
import http from 'node:http';
import type { Metrics } from './metrics.js';

export async function serveMetrics(metrics: Metrics, port: number, host: string): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { close: () => new Promise((resolve) => server.close(() => resolve())) };
}
