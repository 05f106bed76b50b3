/**
 * The end-to-end client of the bench, in its own process (as the load generator is), so its
 * HTTP client's work is not counted against the service's event loop:
 * `node e2e-client.js URL CONCURRENCY BODIES_FILE` POSTs each body of the JSON array in the file
 * to /v1/adapters with `Prefer: wait=30` over keep-alive connections, checks that every job
 * succeeded, and prints `{"latencies": [ms, …]}`.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [url, concurrency, file] = process.argv.slice(2) as [string, string, string];
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const bodies = (JSON.parse(readFileSync(file, 'utf8')) as unknown[]).map((b) => Buffer.from(JSON.stringify(b)));

function post(payload: Buffer): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, method: 'POST', path: '/v1/adapters', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length, prefer: 'wait=30' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        const job = JSON.parse(Buffer.concat(chunks).toString()) as { id?: string; status?: string };
        if (res.statusCode !== 200 || job.status !== 'succeeded') reject(new Error(`job ${job.id} answered ${res.statusCode} ${job.status}`));
        else resolve(ms);
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const latencies: number[] = [];
let next = 0;
await Promise.all(Array.from({ length: Number(concurrency) }, async () => {
  while (next < bodies.length) latencies.push(await post(bodies[next++]!));
}));
process.stdout.write(JSON.stringify({ latencies }) + '\n');
agent.destroy();
