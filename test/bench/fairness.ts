/**
 * `npm run bench -- --fairness`: one tenant's flood against another tenant's few jobs, weights,
 * and the throughput cost, with the shipped default model in one process (API + worker).
 * Each figure is measured twice in the same run: with fair scheduling (SCHEDULER_DEPTH 256, the
 * default) and with one FIFO (a depth no backlog reaches: every computation goes straight into
 * BullMQ, as before fair scheduling existed).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashKey } from '../../src/auth/api-keys.js';
import { call, SHIPPED_MODELS_DIR, startTestService, type TestService } from '../helpers/test-service.js';

type Report = (name: string, value: string) => void;
const MODEL = 'generative-adapter-tiny';
const auth = (t: string) => ({ authorization: `Bearer bench-key-${t}-0123456789` });

function keysFile(alphaWeight: number): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-keys-')), 'api-keys');
  writeFileSync(file, `alpha:${hashKey('bench-key-alpha-0123456789').toString('hex')} weight=${alphaWeight}\nbeta:${hashKey('bench-key-beta-0123456789').toString('hex')}\n`);
  return file;
}

async function queue(svc: TestService, tenant: string, n: number, tag: string): Promise<string[]> {
  const ids: string[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < n) {
      const i = next++;
      const r = await call(svc.url, 'POST', '/v1/adapters', { model: MODEL, input: { context: `${tag} ${tenant} document number ${i} about Aldoria` } }, auth(tenant));
      if (r.status !== 202) throw new Error(`queue: ${r.status} ${JSON.stringify(r.body)}`);
      ids[i] = r.body.id;
    }
  }));
  return ids;
}

/** started_at and finished_at (ms) of each job, read straight from the records once all have ended. */
async function times(svc: TestService, tenant: string, ids: string[]): Promise<{ started: number; finished: number }[]> {
  for (;;) {
    const p = svc.redis.pipeline();
    for (const id of ids) p.hmget(`${svc.config.queuePrefix}:t:${tenant}:job:${id}`, 'started_at', 'finished_at');
    const rows = ((await p.exec()) ?? []).map(([, v]) => (v as (string | null)[]).map((x) => (x ? Date.parse(x) : NaN)));
    if (rows.every(([, f]) => !Number.isNaN(f!))) return rows.map(([s, f]) => ({ started: s!, finished: f! }));
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function scenario(depth: number, alphaWeight: number, alphaJobs: number, betaJobs: number, tag: string) {
  const svc = await startTestService({ env: { MODELS_DIR: SHIPPED_MODELS_DIR, API_KEYS_FILE: keysFile(alphaWeight), SCHEDULER_DEPTH: String(depth), RATE_LIMIT_RPS: '0', MAX_ACTIVE_JOBS: '0', GC_INTERVAL_SECONDS: '0', INFERENCE_THREADS: '1' }, worker: false });
  try {
    const alpha = await queue(svc, 'alpha', alphaJobs, tag);
    const beta = await queue(svc, 'beta', betaJobs, tag);
    await svc.startWorker();
    const a = await times(svc, 'alpha', alpha);
    const b = await times(svc, 'beta', beta);
    // From the first computation's start (not counting the worker's start-up).
    const t0 = Math.min(...a.map((x) => x.started), ...b.map((x) => x.started));
    return { a: a.map((x) => x.finished - t0), b: b.map((x) => x.finished - t0) };
  } finally {
    await svc.close();
  }
}

export async function runFairnessBench(report: Report, opts: { quick: boolean }): Promise<Record<string, number>> {
  const N = opts.quick ? 2000 : 6000;
  const out: Record<string, number> = {};
  for (const [name, depth] of [['fair', 256], ['fifo', 1_000_000]] as const) {
    const r = await scenario(depth, 1, N, 3, name);
    const drain = Math.max(...r.a, ...r.b);
    const betaDone = Math.max(...r.b);
    out[`${name}_drain_ms`] = drain;
    out[`${name}_beta_done_ms`] = betaDone;
    out[`${name}_throughput`] = (N + 3) / (drain / 1000);
    report(`${name}: ${N} alpha jobs then 3 beta jobs — beta done / backlog drained`, `${(betaDone / 1000).toFixed(2)} s / ${(drain / 1000).toFixed(2)} s = ${(betaDone / drain).toFixed(3)}${name === 'fair' ? ' (goal ≤ 0.10)' : ''}`);
    report(`${name}: throughput draining the backlog`, `${out[`${name}_throughput`]!.toFixed(0)} adapters/s`);
  }
  out.throughput_fair_over_fifo = out.fair_throughput! / out.fifo_throughput!;
  report('throughput under backlog, fair / FIFO', `${out.throughput_fair_over_fifo.toFixed(3)} (goal ≥ 0.90)`);
  const half = N / 2;
  const w = await scenario(256, 2, half, half, 'weights');
  const merged = [...w.a.map((t) => ({ t, who: 'a' })), ...w.b.map((t) => ({ t, who: 'b' }))].sort((x, y) => x.t - y.t);
  // While both wait in the fair queue: after the 256 that went straight in (alpha's, queued
  // first, while nobody waited), for as long as beta's backlog surely lasts (half of it).
  const window = merged.slice(256, 256 + Math.floor(half * 0.75));
  const alphaShare = window.filter((x) => x.who === 'a').length / window.length;
  out.weights_alpha_share = alphaShare;
  report(`weights 2:1, ${half} jobs each queued: alpha's share of completions ${256}–${256 + window.length}`, `${alphaShare.toFixed(3)} (goal 0.667 ± 0.067)`);
  return out;
}
