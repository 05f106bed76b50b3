/**
 * A load generator in its own process, so the server under test has its cores to itself:
 * `node load-generator.js URL METHOD PATH BODY|- CONCURRENCY N` prints requests/s as JSON.
 * Keep-alive connections, one request in flight per connection, every response read whole.
 */
import http from 'node:http';

const [url, method, path, body, concurrency, total] = process.argv.slice(2) as [string, string, string, string, string, string];
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const payload = body === '-' ? undefined : Buffer.from(body);

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, method, path, agent, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {} }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const n = Number(total);
let next = 0;
let bad = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(concurrency) }, async () => {
  while (next++ < n) if ((await once()) >= 400) bad++;
}));
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ rps: n / seconds, bad }) + '\n');
agent.destroy();
