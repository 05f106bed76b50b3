/**
 * `npm run bench -- --scale`: the adapter path at real size. A fixture generator with
 * Mistral-7B's LoRA shapes (test/fixtures/build-fixture-scale-model.ts, a trivial forward)
 * measured next to its floors in one run: raw forward, writing the same bytes once with
 * fdatasync on the data disk, and their sha256; then the service — split API + worker
 * processes, and `npm start`'s single process — for e2e latency at concurrency 1 and adapters/s
 * at concurrency 8 (float16 and float32), peak RSS, /healthz p99/max while it works, and
 * download speed of the safetensors file and the archive next to a bare static file server.
 */
import { createReadStream, existsSync, mkdtempSync, openSync, closeSync, writeSync, fdatasyncSync, rmSync, statSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelRegistry } from '../../src/models/model-registry.js';
import { buildTextFeeds } from '../../src/inference/text-feeds.js';
import { rowFloat32Bytes } from '../../src/adapters/assemble.js';
import { buildScaleFixture, SCALE_FIXTURE_ID } from '../fixtures/build-fixture-scale-model.js';
import { REPO_ROOT, SHIPPED_MODELS_DIR } from '../helpers/test-service.js';
import { healthProber, memory, rssSampler, startProcesses, type ServiceProcs } from './scale-processes.js';
import { median, timed } from './stats.js';

type Report = (name: string, value: string) => void;
const SCALE_DIR = path.join(REPO_ROOT, 'test/fixtures/scale-models');
const MB = 1024 * 1024;
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function post(url: string, context: string, dtype: string): Promise<{ status: string; adapter_id: string }> {
  const res = await fetch(`${url}/v1/adapters`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=60' },
    body: JSON.stringify({ model: SCALE_FIXTURE_ID, input: { context }, options: { dtype } }),
  });
  let body = (await res.json()) as { id: string; status: string; adapter_id: string; error?: unknown };
  // Past the 60 s a request may wait, poll (GET /v1/jobs/{id} answers at once) every 100 ms.
  while (body.status === 'queued' || body.status === 'running') {
    await new Promise((r) => setTimeout(r, 100));
    body = (await (await fetch(`${url}/v1/jobs/${body.id}`)).json()) as typeof body;
  }
  if (body.status !== 'succeeded') throw new Error(`scale job ended ${body.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Downloads `url` `n` times, consuming the body as a stream; median MB/s. */
async function download(url: string, n: number): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    let bytes = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
    rates.push(bytes / MB / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

/** The floors: what the hardware does with the same bytes, measured in this run. */
async function floors(report: Report, repeats: number): Promise<Record<string, number>> {
  const registry = await ModelRegistry.load({ dirs: [SCALE_DIR] });
  const model = registry.get(SCALE_FIXTURE_ID)!;
  const session = await ort.InferenceSession.create(model.generatorPath, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', enableCpuMemArena: false });
  const feeds = Object.fromEntries(Object.entries(buildTextFeeds(model.manifest, [{ context: model.tokenizer!.encode('a floor document of the city') }])).map(([k, v]) => [k, new ort.Tensor(v.type as 'int64', v.data as BigInt64Array, v.dims)]));
  await session.run(feeds);
  const fwd: number[] = [];
  for (let i = 0; i < repeats * 2; i++) fwd.push((await timed(() => session.run(feeds)))[0]);
  await session.release();
  const f32Bytes = rowFloat32Bytes(model.manifest);
  const out: Record<string, number> = { forward_ms: median(fwd), adapter_bytes_f32: f32Bytes };
  report('scale floor: raw forward, batch 1', ms(out.forward_ms!));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hyperadapt-floor-'));
  try {
    for (const [dtype, bytes] of [['float16', f32Bytes / 2], ['float32', f32Bytes]] as const) {
      const data = randomBytes(bytes);
      const w: number[] = [];
      const h: number[] = [];
      // New files each time, kept until the end, as a store keeps them (writing over freed
      // blocks of a just-deleted file measures a disk that no store sees).
      for (let i = 0; i < repeats * 2; i++) {
        const file = path.join(dir, `floor-${dtype}-${i}`);
        const t0 = performance.now();
        const fd = openSync(file, 'wx');
        writeSync(fd, data);
        fdatasyncSync(fd);
        closeSync(fd);
        w.push(performance.now() - t0);
        h.push((await timed(async () => createHash('sha256').update(data).digest()))[0]);
      }
      out[`write_fdatasync_ms_${dtype}`] = median(w);
      out[`sha256_ms_${dtype}`] = median(h);
      out[`floor_per_s_${dtype}`] = 1000 / Math.max(out.forward_ms!, median(w));
      report(`scale floor: write + fdatasync ${(bytes / MB).toFixed(0)} MB (${dtype})`, ms(median(w)));
      report(`scale floor: sha256 ${(bytes / MB).toFixed(0)} MB (${dtype})`, ms(median(h)));
      report(`scale floor: 1 / max(forward, write) (${dtype})`, `${out[`floor_per_s_${dtype}`]!.toFixed(1)} adapters/s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/**
 * The API process's own worst event-loop delay since the last scrape (prom-client resets its
 * monitor at every scrape): tells a stalled event loop from a slow probe client.
 */
async function eventLoopMaxMs(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^hyperadapt_nodejs_eventloop_lag_max_seconds (\S+)/m.exec(text)?.[1] ?? NaN) * 1000;
}

/** e2e at concurrency 1 and adapters/s at concurrency 8 for one dtype, with health and memory. */
async function phase(svc: ServiceProcs, dtype: string, jobsC1: number, jobsC8: number, salt: string) {
  const pids = Object.values(svc.pids);
  await eventLoopMaxMs(svc.url);
  const rss = rssSampler(pids);
  const health = healthProber(svc.url);
  const lat: number[] = [];
  for (let i = 0; i < jobsC1; i++) lat.push((await timed(() => post(svc.url, `c1 ${salt} document ${i}`, dtype)))[0]);
  let next = 0;
  const [t] = await timed(() => Promise.all(Array.from({ length: 8 }, async () => {
    while (next < jobsC8) await post(svc.url, `c8 ${salt} document ${next++}`, dtype);
  })));
  const h = await health.stop();
  const mem = rss.stop();
  const loopMax = await eventLoopMaxMs(svc.url);
  return { e2e_c1_ms: median(lat), per_s_c8: (jobsC8 / t) * 1000, healthz_p99_ms: h.p99, healthz_max_ms: h.max, healthz_samples: h.n, api_event_loop_max_ms: loopMax, rss_sum_peak: mem.sumPeak, rss_each_peak: mem.each, vmhwm: pids.map((p) => memory(p).peak) };
}

export async function runScaleBench(report: Report, options: { quick: boolean }): Promise<Record<string, unknown>> {
  if (!existsSync(path.join(SCALE_DIR, SCALE_FIXTURE_ID, 'manifest.json'))) buildScaleFixture(SCALE_DIR);
  const repeats = options.quick ? 3 : 5;
  const results: Record<string, unknown> = {};
  const floor = await floors(report, repeats);
  results.floors = floor;
  const c1 = options.quick ? 4 : 8;
  const c8 = options.quick ? 16 : 32;
  for (const mode of ['split', 'single'] as const) {
    const svc = await startProcesses(mode, [SHIPPED_MODELS_DIR, SCALE_DIR]);
    try {
      await post(svc.url, `warm ${mode}`, 'float16');
      const modeResults: Record<string, unknown> = {};
      for (const dtype of ['float16', 'float32']) {
        const r = await phase(svc, dtype, c1, c8, `${mode}-${dtype}`);
        modeResults[dtype] = r;
        const fl = floor[`floor_per_s_${dtype}`]!;
        const budget = 2 * (floor.forward_ms! + floor[`write_fdatasync_ms_${dtype}`]!) + 20;
        report(`scale ${mode}: e2e concurrency 1 (${dtype})`, `${ms(r.e2e_c1_ms)}  (goal ≤ 2×(forward+write)+20 = ${ms(budget)})`);
        report(`scale ${mode}: adapters/s concurrency 8 (${dtype})`, `${r.per_s_c8.toFixed(2)}/s = ${(r.per_s_c8 / fl).toFixed(2)} of the floor ${fl.toFixed(1)}/s`);
        report(`scale ${mode}: /healthz p99 / max during ${dtype}`, `${ms(r.healthz_p99_ms)} / ${ms(r.healthz_max_ms)} (${r.healthz_samples} probes; API event loop's own max delay ${ms(r.api_event_loop_max_ms)})`);
        report(`scale ${mode}: peak RSS, all service processes (${dtype})`, `${(r.rss_sum_peak / MB).toFixed(0)} MB sampled (${Object.keys(svc.pids).map((k, i) => `${k} ${(r.rss_each_peak[i]! / MB).toFixed(0)}`).join(', ')}); VmHWM ${r.vmhwm.map((b) => (b / MB).toFixed(0)).join(' + ')} MB`);
      }
      if (mode === 'split') {
        // Downloads: the same safetensors file through the API and from a bare static file server.
        const ad = await post(svc.url, 'download me', 'float16');
        const file = path.join(svc.dataDir, 'tenants', 'local', 'adapters', ad.adapter_id, 'adapter_model.safetensors');
        const bare = createServer((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
          createReadStream(file, { highWaterMark: MB }).pipe(res);
        });
        await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
        const bareUrl = `http://127.0.0.1:${(bare.address() as { port: number }).port}/`;
        const n = repeats;
        // One untimed pass of each, so no figure pays for a cold start.
        for (const u of [bareUrl, `${svc.url}/v1/adapters/${ad.adapter_id}/files/adapter_model.safetensors`, `${svc.url}/v1/adapters/${ad.adapter_id}/archive`]) await download(u, 1);
        const dl = {
          bare_mb_s: await download(bareUrl, n),
          file_mb_s: await download(`${svc.url}/v1/adapters/${ad.adapter_id}/files/adapter_model.safetensors`, n),
          archive_mb_s: await download(`${svc.url}/v1/adapters/${ad.adapter_id}/archive`, n),
          archive_gzip_mb_s: await download(`${svc.url}/v1/adapters/${ad.adapter_id}/archive?compression=gzip`, 2),
        };
        bare.close();
        modeResults.downloads = dl;
        report('scale downloads: bare static file server', `${dl.bare_mb_s.toFixed(0)} MB/s`);
        report('scale downloads: /files/adapter_model.safetensors', `${dl.file_mb_s.toFixed(0)} MB/s (${(dl.file_mb_s / dl.bare_mb_s).toFixed(2)} of bare)`);
        report('scale downloads: /archive (plain tar)', `${dl.archive_mb_s.toFixed(0)} MB/s (${(dl.archive_mb_s / dl.file_mb_s).toFixed(2)} of the file)`);
        report('scale downloads: /archive?compression=gzip', `${dl.archive_gzip_mb_s.toFixed(0)} MB/s`);
      }
      results[mode] = modeResults;
    } finally {
      await svc.close();
    }
  }
  return results;
}
