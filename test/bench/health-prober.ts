/**
 * `/healthz` probed from its own process, as an external health checker would: every `everyMs`
 * until its stdin closes, then prints `{p99, max, n}` (milliseconds) as JSON. Being a separate
 * process keeps the bench's own clients (and their event loop) out of the latencies it reports.
 */
import http from 'node:http';
import { percentile } from './stats.js';

const [url, everyMs] = process.argv.slice(2) as [string, string];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const lat: number[] = [];
let running = true;
process.stdin.on('end', () => (running = false)).resume();

function probe(): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/healthz`, { agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => resolve());
  });
}

while (running) {
  const t0 = performance.now();
  await probe();
  lat.push(performance.now() - t0);
  await new Promise((r) => setTimeout(r, Number(everyMs)));
}
process.stdout.write(JSON.stringify({ p99: percentile(lat, 99), max: Math.max(...lat), n: lat.length }) + '\n');
agent.destroy();
