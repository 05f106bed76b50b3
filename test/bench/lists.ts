/**
 * `npm run bench -- --lists`: a filtered page against an unfiltered one, over a large history.
 * 13,000 job records (1% failed, 1% canceled, the rest succeeded) and 5,000 adapters (1% of
 * another model) are written through the stores' own scripts; then `GET /v1/jobs?status=…`,
 * `GET /v1/adapters?model=…` and their unfiltered pages are timed over loopback HTTP.
 */
import { JobStore } from '../../src/store/job-store.js';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { startTestService } from '../helpers/test-service.js';
import { median } from './stats.js';

type Report = (name: string, value: string) => void;

async function timeGets(url: string, n: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

export async function runListsBench(report: Report, opts: { quick: boolean }): Promise<Record<string, number>> {
  const svc = await startTestService({ env: { GC_INTERVAL_SECONDS: '0', MAX_ACTIVE_JOBS: '0', RATE_LIMIT_RPS: '0' }, worker: false });
  try {
    const jobs = new JobStore({ redis: svc.redis, keys: new RedisKeys(svc.config.queuePrefix), retentionSeconds: 3600, idempotencyTtlSeconds: 60 });
    const N = opts.quick ? 10_000 : 13_000;
    const ADAPTERS = opts.quick ? 2_000 : 5_000;
    let next = 0;
    const record = (i: number, model: string) => ({ id: `ad_${i.toString(16).padStart(40, '0')}`, object: 'adapter', model, files: [{ name: 'adapter_model.safetensors', bytes: 1000, sha256: '0'.repeat(64) }] });
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < N) {
        const i = next++;
        const adapterId = `ad_${i.toString(16).padStart(40, '0')}`;
        const c = await jobs.create({ tenant: 'local', kind: 'text', model: 'fixture-text-tiny', adapterId, metadata: {} });
        if (c.outcome !== 'queued') continue;
        if (i % 100 === 7) await jobs.cancel('local', c.jobId);
        const model = i % 100 === 3 ? 'other-model' : 'fixture-text-tiny';
        const failed = i % 100 === 5;
        await jobs.finishComputation({
          tenant: 'local', adapterId, computation: c.computation, outcome: failed ? 'failed' : 'succeeded',
          ...(failed ? { error: { code: 'x', message: 'y' } } : i < ADAPTERS ? { adapterRecord: record(i, model) } : { outcome: 'failed', error: { code: 'x', message: 'y' } }),
        });
      }
    }));
    const reps = opts.quick ? 30 : 60;
    const out: Record<string, number> = {};
    for (const [name, route] of [
      ['jobs unfiltered', '/v1/jobs?limit=10'],
      ['jobs status=canceled (1%)', '/v1/jobs?status=canceled&limit=10'],
      ['jobs status=failed', '/v1/jobs?status=failed&limit=10'],
      ['adapters unfiltered', '/v1/adapters?limit=10'],
      ['adapters model=other-model (1%)', '/v1/adapters?model=other-model&limit=10'],
    ] as const) {
      await timeGets(svc.url + route, 5);
      out[name] = await timeGets(svc.url + route, reps);
      report(`${name}: median ms per page of 10 (${N} jobs, ${ADAPTERS} adapters)`, out[name]!.toFixed(2));
    }
    out.ratio_jobs = out['jobs status=canceled (1%)']! / out['jobs unfiltered']!;
    out.ratio_adapters = out['adapters model=other-model (1%)']! / out['adapters unfiltered']!;
    report('filtered / unfiltered, jobs (status=canceled)', `${out.ratio_jobs.toFixed(2)} (goal ≈ 1)`);
    report('filtered / unfiltered, adapters (model=)', `${out.ratio_adapters.toFixed(2)} (goal ≈ 1)`);
    return out;
  } finally {
    await svc.close();
  }
}
