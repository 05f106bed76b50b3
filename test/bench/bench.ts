/**
 * `npm run bench [-- --model ID --quick --out FILE]` — the service's speed, measured (not
 * asserted): raw onnxruntime forward, end-to-end latency and overhead, batched vs unbatched
 * throughput, cache hits, generator vs fine-tuning, and 1 vs 2 worker processes. Every figure is
 * a median over repeated runs in this one process. Needs Redis at REDIS_URL.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Queue } from 'bullmq';
import { GENERATE_QUEUE } from '../../src/jobs/queue-names.js';
import { ModelRegistry, type LoadedModel } from '../../src/models/model-registry.js';
import { buildTextFeeds } from '../../src/inference/text-feeds.js';
import { call, FIXTURE_MODELS_DIR, REPO_ROOT, SHIPPED_MODELS_DIR, startTestService, testEnv, waitForJob, type TestService } from '../helpers/test-service.js';
import { median, percentile, timed } from './stats.js';
import { runScaleBench } from './scale.js';
import { runListsBench } from './lists.js';
import { runFairnessBench } from './fairness.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, quick: { type: 'boolean', default: false }, scale: { type: 'boolean', default: false }, lists: { type: 'boolean', default: false }, fairness: { type: 'boolean', default: false }, out: { type: 'string', default: 'bench-results.json' } } });
const QUICK = values.quick!;

/** Runs one of the separate benches and writes its figures (default file bench-<name>-results.json). */
async function separate(name: string, run: (report: (n: string, v: string) => void, o: { quick: boolean }) => Promise<Record<string, number>>): Promise<never> {
  const rows: [string, string][] = [];
  const figures = await run((n, v) => {
    rows.push([n, v]);
    console.log(`${n.padEnd(72)} ${v}`);
  }, { quick: QUICK });
  const out = values.out === 'bench-results.json' ? `bench-${name}-results.json` : values.out!;
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), quick: QUICK, ...figures, table: rows }, null, 2));
  console.log(`\nwrote ${out}`);
  process.exit(0);
}
// `--lists`: filtered against unfiltered list pages over a large history (test/bench/lists.ts).
if (values.lists) await separate('lists', runListsBench);
// `--fairness`: one tenant's flood against another's few jobs; weights (test/bench/fairness.ts).
if (values.fairness) await separate('fairness', runFairnessBench);
if (values.scale) {
  // `--scale`: the 7B-shaped adapter path (test/bench/scale.ts) instead of the tiny-model figures.
  const rows: [string, string][] = [];
  const scale = await runScaleBench((name, value) => {
    rows.push([name, value]);
    console.log(`${name.padEnd(62)} ${value}`);
  }, { quick: QUICK });
  const out = values.out === 'bench-results.json' ? 'bench-scale-results.json' : values.out!;
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), quick: QUICK, ...scale, table: rows }, null, 2));
  console.log(`\nwrote ${out}`);
  process.exit(0);
}
const REPEATS = QUICK ? 3 : 5;
const DEPTH = QUICK ? 256 : 1024;

/**
 * Requests/s of `n` requests over 16 keep-alive connections from a separate process, and this
 * process's CPU time per request (user + system, all threads; the service under test runs here):
 * the client shares this machine's two cores, so its own cost moves the rate, not the server's
 * CPU per request.
 */
async function loadGenerator(url: string, method: string, route: string, body: string, n = QUICK ? 2000 : 4000): Promise<{ rps: number; cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/test/bench/load-generator.js'), url, method, route, body, '16', String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  const r = JSON.parse(out) as { rps: number; bad: number };
  if (r.bad > 0) throw new Error(`${r.bad} of ${n} ${method} ${route} failed`);
  const cpu = process.cpuUsage(cpu0);
  return { rps: r.rps, cpuUs: (cpu.user + cpu.system) / n };
}

const registry = await ModelRegistry.load({ dirs: [SHIPPED_MODELS_DIR, FIXTURE_MODELS_DIR] });
const model: LoadedModel = registry.get(values.model ?? 'generative-adapter-tiny') ?? registry.get('fixture-text-tiny')!;
const modelId = model.manifest.id;
const modelsDir = path.dirname(model.dir);
const field = model.manifest.condition.kind === 'text' ? Object.keys(model.manifest.condition.fields)[0]! : 'context';
const windowTokens = model.manifest.condition.kind === 'text' ? model.manifest.condition.fields[field]!.max_tokens : Infinity;

/**
 * Distinct, realistic condition texts: the model's eval sample when it ships one — its one-window
 * documents (a chunked model's sample also holds 4- and 16-window ones, which would make every
 * figure below a mix of workloads; the goals are per one-window adapter).
 */
const sampleFile = path.join(model.dir, 'eval-sample.json');
const sampleTexts: string[] = existsSync(sampleFile)
  ? [...new Set((JSON.parse(readFileSync(sampleFile, 'utf8')).items as { context: string; question: string; n_windows?: number }[]).filter((i) => (i.n_windows ?? 1) === 1).map((i) => (field === 'question' ? i.question : i.context)))]
  : ['the blue city of the red lives', 'a green city in the blue', 'the red works at the city'];
let textCounter = 0;
function texts(n: number): string[] {
  // A number makes every text a new adapter (one counter for the whole run, so no two phases
  // share a text); a text it pushes past one window is skipped. The sample's documents fill their
  // windows: salted with a phase name, 35-68% of them became two-window documents, read as two
  // rows by the service but as one over-long row by the raw floor.
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    if (i > n * 20) throw new Error(`fewer than ${n} numbered texts fit one window of ${windowTokens}`);
    const text = `${sampleTexts[i % sampleTexts.length]!} ${textCounter}`;
    if (model.tokenizer!.count(text) <= windowTokens) {
      out.push(text);
      textCounter++;
    }
  }
  return out;
}

const results: Record<string, unknown> = { model: modelId, quick: QUICK, repeats: REPEATS, date: new Date().toISOString() };
const rows: [string, string][] = [];
const report = (name: string, value: string) => {
  rows.push([name, value]);
  console.log(`${name.padEnd(58)} ${value}`);
};
const ms = (x: number) => `${x.toFixed(2)} ms`;

// 1. Raw onnxruntime forward (the floor): same session options as the inference threads. For a
// chunked model an adapter is two graphs: window → state, then state → LoRA (combine).
const sessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' } as const;
const session = await ort.InferenceSession.create(model.generatorPath, sessionOptions);
const combine = model.combinePath ? await ort.InferenceSession.create(model.combinePath, sessionOptions) : undefined;
const forward = async (feeds: Record<string, ort.Tensor>): Promise<void> => {
  const out = await session.run(feeds);
  if (combine) await combine.run({ [combine.inputNames[0]!]: out[session.outputNames[0]!]! });
};
// The floor is measured on the service's workload: consecutive batches of the same texts the
// service is given (one text alone would make the floor that text's, e.g. a short one's).
const rawBatches = new Map<number, Record<string, ort.Tensor>[]>();
/**
 * Runs `fn` between two raw measurements at batch `b` (this machine's speed drifts over minutes)
 * and returns its result with the faster floor, in ms per batch: the conservative choice, as a
 * floor taken while the machine is still busy would flatter the service.
 */
async function withFloor<T>(b: number, fn: () => Promise<T>): Promise<[T, number]> {
  const before = await measureRaw(b, 1);
  const result = await fn();
  return [result, Math.min(before, await measureRaw(b, 1))];
}
/** Milliseconds per batch of `b`, the median over `repeats` passes through the workload. */
async function measureRaw(b: number, repeats: number): Promise<number> {
  let batches = rawBatches.get(b);
  if (!batches) {
    const all = texts(Math.max(64, b * 4));
    batches = Array.from({ length: all.length / b }, (_, k) => {
      const rowsIds = all.slice(k * b, (k + 1) * b).map((t) => ({ [field]: model.tokenizer!.encode(t) }));
      return Object.fromEntries(Object.entries(buildTextFeeds(model.manifest, rowsIds)).map(([k2, v]) => [k2, new ort.Tensor(v.type as 'int64', v.data as BigInt64Array, v.dims)]));
    });
    rawBatches.set(b, batches);
  }
  await forward(batches[0]!);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const [t] = await timed(async () => {
      for (const feeds of batches) await forward(feeds);
    });
    times.push(t / batches.length);
  }
  return median(times);
}
const raw: Record<number, number> = {};
for (const b of [1, 8, 32, 64]) {
  raw[b] = await measureRaw(b, REPEATS);
  report(`raw forward, batch ${b} (mean over the workload)`, `${ms(raw[b]!)}  (${((b / raw[b]!) * 1000).toFixed(0)} adapters/s)`);
}
results.raw_forward_ms = raw;
// The raw forward at its best batch size: the goal's measure of what the hardware does.
const bestBatch = Object.keys(raw).map(Number).reduce((best, b) => (b / raw[b]! > best / raw[best]! ? b : best), 1);
const rawBest = (bestBatch / raw[bestBatch]!) * 1000;
results.raw_best = { batch: bestBatch, adapters_per_s: rawBest };
report('raw forward at its best batch size', `B=${bestBatch}: ${rawBest.toFixed(0)} adapters/s`);

// Session options, measured (the inference threads use the winner: intra-op 1, 'all', arena on).
const options: Record<string, number> = {};
{
  const rowsIds = texts(8).map((t) => ({ [field]: model.tokenizer!.encode(t) }));
  const feedsOf = () => Object.fromEntries(Object.entries(buildTextFeeds(model.manifest, rowsIds)).map(([k, v]) => [k, new ort.Tensor(v.type as 'int64', v.data as BigInt64Array, v.dims)]));
  for (const [name, opts] of [
    ['intra 1, all, arena', { intraOpNumThreads: 1, graphOptimizationLevel: 'all', enableCpuMemArena: true }],
    ['intra 2, all, arena', { intraOpNumThreads: 2, graphOptimizationLevel: 'all', enableCpuMemArena: true }],
    ['intra 1, basic, arena', { intraOpNumThreads: 1, graphOptimizationLevel: 'basic', enableCpuMemArena: true }],
    ['intra 1, all, no arena', { intraOpNumThreads: 1, graphOptimizationLevel: 'all', enableCpuMemArena: false }],
  ] as const) {
    const s2 = await ort.InferenceSession.create(model.generatorPath, { executionProviders: ['cpu'], interOpNumThreads: 1, ...opts });
    const feeds = feedsOf();
    await s2.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < REPEATS * 4; i++) times.push((await timed(() => s2.run(feeds)))[0]);
    options[name] = median(times);
    report(`session options ${name} (batch 8)`, ms(median(times)));
    await s2.release();
  }
}
results.session_options_ms = options;

async function withService<T>(env: Record<string, string>, fn: (svc: TestService) => Promise<T>, worker = true): Promise<T> {
  const svc = await startTestService({ env: { MODELS_DIR: modelsDir, LOG_LEVEL: 'silent', RATE_LIMIT_RPS: '0', ...env }, worker });
  try {
    return await fn(svc);
  } finally {
    await svc.close();
  }
}

// 2. End to end: HTTP POST → job succeeded with files written (Prefer: wait returns then), from
// a client in its own process (an in-process fetch client's work landed on the service's loop).
const e2e = async (svc: TestService, concurrency: number, total: number): Promise<number[]> => {
  const file = path.join(tmpdir(), `hyperadapt-bench-bodies-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(texts(total).map((text) => ({ model: modelId, input: { [field]: text } }))));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/test/bench/e2e-client.js'), svc.url, String(concurrency), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  rmSync(file, { force: true });
  if (code !== 0) throw new Error(`the end-to-end client failed (exit ${String(code)})`);
  return (JSON.parse(out) as { latencies: number[] }).latencies;
};
await withService({ BATCH_MAX_SIZE: '32', BATCH_MAX_WAIT_MS: '2', WORKER_CONCURRENCY: '64' }, async (svc) => {
  await e2e(svc, 1, 5);
  for (const c of [1, 32]) {
    const p50s: number[] = [];
    const p99s: number[] = [];
    const overheads: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const [lat, floor] = c === 1 ? await withFloor(1, () => e2e(svc, c, 30)) : [await e2e(svc, c, 128), 0];
      p50s.push(percentile(lat, 50));
      p99s.push(percentile(lat, 99));
      overheads.push(percentile(lat, 50) - floor);
    }
    results[`e2e_c${c}`] = { p50_ms: median(p50s), p99_ms: median(p99s) };
    report(`end to end, concurrency ${c}: p50 / p99`, `${ms(median(p50s))} / ${ms(median(p99s))}`);
    if (c === 1) {
      results.overhead_p50_ms = median(overheads);
      report('service overhead over raw forward (p50, concurrency 1; the faster floor of just before / after each run)', `${ms(median(overheads))} (goal ≤ 3 ms)`);
    }
  }
  // 4. Cache hits: the same POST again.
  const body = { model: modelId, input: { [field]: texts(1)[0]! } };
  await call(svc.url, 'POST', '/v1/adapters', body, { prefer: 'wait=30' });
  const p50s: number[] = [];
  const p99s: number[] = [];
  const rps: number[] = [];
  // The same server's /healthz from the same generator, right after each cache-hit run: the
  // ceiling of its HTTP stack at that moment.
  const hz: number[] = [];
  const ratios: number[] = [];
  const cpuHit: number[] = [];
  const cpuHz: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) lat.push((await timed(() => call(svc.url, 'POST', '/v1/adapters', body)))[0]);
    p50s.push(percentile(lat, 50));
    p99s.push(percentile(lat, 99));
    const hit = await loadGenerator(svc.url, 'POST', '/v1/adapters', JSON.stringify(body));
    const health = await loadGenerator(svc.url, 'GET', '/healthz', '-');
    rps.push(hit.rps);
    hz.push(health.rps);
    cpuHit.push(hit.cpuUs);
    cpuHz.push(health.cpuUs);
    ratios.push(rps[r]! / hz[r]!);
  }
  results.cache_hit = { p50_ms: median(p50s), p99_ms: median(p99s), rps_c16: median(rps), healthz_rps_c16: median(hz), ratio: median(ratios), cpu_us: median(cpuHit), healthz_cpu_us: median(cpuHz) };
  report('cache hit: p50 / p99 (sequential)', `${ms(median(p50s))} / ${ms(median(p99s))}`);
  report('cache hit: requests/s (16 connections, separate client process)', median(rps).toFixed(0));
  report('/healthz: requests/s (16 connections, separate client process)', median(hz).toFixed(0));
  report('cache-hit requests/s / /healthz requests/s (median of paired runs)', `${median(ratios).toFixed(2)} (goal ≥ 0.6)`);
  report('service CPU per request: cache hit / /healthz (µs, ratio)', `${median(cpuHit).toFixed(0)} / ${median(cpuHz).toFixed(0)} (${(median(cpuHz) / median(cpuHit)).toFixed(2)})`);
});

// 3. Throughput at a queue depth: DEPTH jobs wait in a paused queue, ready workers drain them.
async function drain(batch: number, workers: number): Promise<number> {
  const env = testEnv({ MODELS_DIR: modelsDir, LOG_LEVEL: 'silent', RATE_LIMIT_RPS: '0', BATCH_MAX_SIZE: String(batch), WORKER_CONCURRENCY: String(Math.max(64, batch * 2)) });
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const svc = await startTestService({ env: clean, worker: false });
  const queue = new Queue(GENERATE_QUEUE, { connection: svc.redis, prefix: svc.config.queuePrefix });
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    await queue.pause();
    if (workers === 0) await svc.startWorker();
    for (let i = 0; i < workers; i++) {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/workers/generate/main.js')], { env: { ...clean, LOG_LEVEL: 'info', INFERENCE_THREADS: '1' }, stdio: ['ignore', 'pipe', 'ignore'] });
      procs.push(child);
      await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('generate worker ready') && resolve()));
    }
    const replies = await Promise.all(texts(DEPTH).map((t) => call(svc.url, 'POST', '/v1/adapters', { model: modelId, input: { [field]: t } })));
    const refused = replies.find((r) => r.status !== 202);
    if (refused) throw new Error(`a queued POST answered ${refused.status}: ${JSON.stringify(refused.body)}`);
    const t0 = performance.now();
    await queue.resume();
    // Done when the index holds every adapter: one cheap Redis call per poll, so measuring does
    // not load the machine being measured.
    const index = `${svc.config.queuePrefix}:t:local:adapters`;
    while ((await svc.redis.zcard(index)) < DEPTH) await new Promise((r) => setTimeout(r, 10));
    const elapsed = performance.now() - t0;
    for (const r of replies.slice(0, 8)) if ((await waitForJob(svc.url, r.body.id, 1000)).status !== 'succeeded') throw new Error('a job did not succeed');
    return (DEPTH / elapsed) * 1000;
  } finally {
    // Gone before anything else is measured (a floor taken while one still shuts down is slow).
    await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((resolve) => {
      p.once('exit', resolve);
      p.kill('SIGTERM');
    }))));
    await queue.close();
    await svc.close();
  }
}
const thr: Record<string, number> = {};
for (const [name, batch] of [['batching off (B=1)', 1], ['batching on (B=32)', 32]] as const) {
  const runs: number[] = [];
  for (let r = 0; r < REPEATS; r++) runs.push(await drain(batch, 0));
  thr[name] = median(runs);
  report(`throughput at queue depth ${DEPTH}, ${name}`, `${median(runs).toFixed(0)} adapters/s`);
}
const on = thr['batching on (B=32)']!;
const off = thr['batching off (B=1)']!;
const rawB32 = (32 / raw[32]!) * 1000;
results.throughput = { ...thr, raw_b32: rawB32, raw_best: rawBest, ratio_on_off: on / off, ratio_on_raw: on / rawB32, ratio_on_raw_best: on / rawBest };
report('batched / unbatched throughput', `${(on / off).toFixed(2)}×`);
report('batched throughput / raw forward at B=32', `${((100 * on) / rawB32).toFixed(0)}%`);

// As deployed: the API in one process, worker processes on the same Redis. Each side at its best:
// the raw forward at its best batch size, the service at the BATCH_MAX_SIZE an operator would
// pick (the raw best, and 8: batching also shares the per-batch work — a sync round, one Redis
// call to finish the batch — which the raw forward does not have).
const scale: Record<string, number> = {};
const byBatch: Record<number, number> = {};
/** Per service batch size: each drain over the raw best measured around it (withFloor). */
const pairedRatios: Record<number, number[]> = {};
for (const b of [...new Set([bestBatch, 8])]) {
  const runs: number[] = [];
  pairedRatios[b] = [];
  for (let r = 0; r < Math.max(2, REPEATS - 2); r++) {
    const [rate, floorMs] = await withFloor(bestBatch, () => drain(b, 1));
    runs.push(rate);
    pairedRatios[b]!.push(rate / ((bestBatch / floorMs) * 1000));
  }
  byBatch[b] = median(runs);
  report(`throughput at depth ${DEPTH}, 1 worker process (B=${b})`, `${median(runs).toFixed(0)} adapters/s`);
}
const serviceBatch = Number(Object.keys(byBatch).reduce((a, b) => (byBatch[Number(b)]! > byBatch[Number(a)]! ? b : a)));
scale.workers_1 = byBatch[serviceBatch]!;
const pairedRatio = median(pairedRatios[serviceBatch]!);
{
  const runs: number[] = [];
  for (let r = 0; r < Math.max(2, REPEATS - 2); r++) runs.push(await drain(serviceBatch, 2));
  scale.workers_2 = median(runs);
  report(`throughput at depth ${DEPTH}, 2 worker processes (B=${serviceBatch})`, `${median(runs).toFixed(0)} adapters/s`);
}
results.scaling = { ...scale, by_batch: byBatch, service_batch: serviceBatch };
results.throughput = { ...(results.throughput as object), worker_process_best: scale.workers_1, ratio_worker_process_raw_best: pairedRatio, ratio_to_first_floor: scale.workers_1 / rawBest };
report(`throughput, 1 worker process at its best (B=${serviceBatch}) / raw forward at its best (B=${bestBatch}), the faster floor of just before / after each drain`, `${pairedRatio.toFixed(2)} (goal ≥ 0.7; against the floor of step 1: ${(scale.workers_1 / rawBest).toFixed(2)})`);
report(`throughput in one process with the API and its clients / raw best`, `${(on / rawBest).toFixed(2)}`);

// 5. Generator vs per-condition LoRA fine-tuning (the card's measured SGD time, 100 steps).
const card = existsSync(path.join(model.dir, 'CARD.md')) ? readFileSync(path.join(model.dir, 'CARD.md'), 'utf8') : '';
const ft = /fine-tuned[^|\n]*100 steps[^\n]*\|\s*([\d.]+)\s*(ms|s)\s*\|/.exec(card);
if (ft) {
  const ftMs = Number(ft[1]) * (ft[2] === 's' ? 1000 : 1);
  const e2eP50 = (results.e2e_c1 as { p50_ms: number }).p50_ms;
  results.vs_finetune = { finetune_100_steps_ms: ftMs, service_p50_ms: e2eP50, ratio: ftMs / e2eP50 };
  report('LoRA fine-tuning, 100 steps (from CARD.md) / service p50', `${(ftMs / e2eP50).toFixed(0)}× (${ms(ftMs)} vs ${ms(e2eP50)})`);
} else {
  report('LoRA fine-tuning comparison', 'no 100-step row in CARD.md');
}

writeFileSync(values.out!, JSON.stringify({ ...results, table: rows }, null, 2));
console.log(`\nwrote ${values.out}`);
process.exit(0);
