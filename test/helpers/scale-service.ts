/**
 * Running the 7B-shaped fixture generator in tests: its environment, requests, worker
 * processes, and the check that everything the index points to is whole on disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildScaleFixture, SCALE_FIXTURE_ID } from '../fixtures/build-fixture-scale-model.js';
import { call, FIXTURE_MODELS_DIR, REPO_ROOT, testEnv, type TestService } from './test-service.js';

export const SCALE_DIR = path.join(REPO_ROOT, 'test/fixtures/scale-models');
if (!existsSync(path.join(SCALE_DIR, SCALE_FIXTURE_ID))) buildScaleFixture(SCALE_DIR);
export const SCALE_ENV = { EXTRA_MODELS_DIRS: SCALE_DIR, MODELS_DIR: FIXTURE_MODELS_DIR };

export const postScale = (svc: { url: string }, context: string, dtype = 'float16', prefer = 'wait=60') =>
  call(svc.url, 'POST', '/v1/adapters', { model: SCALE_FIXTURE_ID, input: { context }, options: { dtype } }, { prefer });

/** testEnv with the scale model, without undefined values (for child processes). */
export function cleanScaleEnv(overrides: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(testEnv({ ...SCALE_ENV, ...overrides })).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** A worker process on `svc`'s Redis and data dir, with `extra` environment. */
export function spawnWorker(svc: TestService, clean: Record<string, string>, extra: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [path.join(REPO_ROOT, 'dist/workers/generate/main.js')], { env: { PATH: process.env.PATH ?? '', ...clean, ...extra }, stdio: 'ignore' });
}

/** The adapter records in the tenant `local`'s index. */
export async function indexRecords(svc: TestService): Promise<{ id: string; files: { name: string; bytes: number; sha256: string }[] }[]> {
  const ids = await svc.redis.zrange(`${svc.config.queuePrefix}:t:local:adapters`, '0', '-1');
  return Promise.all(ids.map(async (id) => JSON.parse((await svc.redis.hget(`${svc.config.queuePrefix}:t:local:adapter:${id}`, 'record'))!)));
}

/** Every indexed adapter's files are on disk with exactly the size and sha256 of its record. */
export function indexedAdaptersAreWhole(svc: TestService, records: { id: string; files: { name: string; bytes: number; sha256: string }[] }[]): void {
  for (const rec of records) {
    for (const f of rec.files) {
      const data = readFileSync(path.join(svc.config.dataDir, 'tenants', 'local', 'adapters', rec.id, f.name));
      expect({ id: rec.id, name: f.name, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') }).toEqual({ id: rec.id, name: f.name, bytes: f.bytes, sha256: f.sha256 });
    }
  }
}


