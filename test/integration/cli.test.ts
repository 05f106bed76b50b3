/** The `hyperadapt` CLI and the typed client, against a real service. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HyperadaptApiError, HyperadaptClient } from '../../src/client/hyperadapt-client.js';
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { REPO_ROOT, startTestService, type TestService } from '../helpers/test-service.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/hyperadapt.js');
const MODEL = 'fixture-text-tiny';
let svc: TestService;
let client: HyperadaptClient;
beforeAll(async () => {
  svc = await startTestService();
  client = new HyperadaptClient({ baseUrl: svc.url });
});
afterAll(async () => {
  await svc?.close();
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, '--url', svc.url, ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('hyperadapt CLI', () => {
  it('lists models', async () => {
    const r = await cli(['models']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fixture-text-tiny\s+text\s+test-fixture/);
  });

  it('generates an adapter, follows the job, downloads and verifies the files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-'));
    const contextFile = path.join(dir, 'doc.txt');
    writeFileSync(contextFile, 'the blue city of the cli');
    const out = path.join(dir, 'adapter');
    const r = await cli(['generate', '--model', MODEL, '--context-file', contextFile, '--dtype', 'float16', '--out', out]);
    expect(r.stderr).toMatch(/job_[0-9a-f]{24} succeeded 100%/); // plain lines when not a TTY
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ad_[0-9a-f]{40} → .*sha256 verified/);
    expect(readdirSync(out).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
    const st = readSafetensors(readFileSync(path.join(out, 'adapter_model.safetensors')));
    expect(Object.values(st.tensors).every((t) => t.dtype === 'F16')).toBe(true);
  });

  it('prints a job', async () => {
    const job = await client.createAdapter({ model: MODEL, input: { context: 'jobs get' } }, { wait: 10 });
    const r = await cli(['jobs', 'get', job.id]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: job.id, status: 'succeeded' });
  });

  it('pins and unpins an adapter, shows usage, deletes', async () => {
    const job = await client.createAdapter({ model: MODEL, input: { context: 'pin me from the CLI' } }, { wait: 10 });
    const id = job.adapter_id!;
    const pinned = await cli(['adapters', 'pin', id]);
    expect(pinned.code).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ id, pinned: true, expires_at: null });
    expect((await client.getAdapter(id)).pinned).toBe(true);
    const usage = await cli(['usage']);
    expect(usage.stdout).toMatch(/^tenant local: \d+ adapters, \d+ bytes stored \(\d+ pinned\), quota unlimited/);
    expect(Number(/\((\d+) pinned\)/.exec(usage.stdout)![1])).toBe((await client.getAdapter(id)).bytes);
    const unpinned = await cli(['adapters', 'unpin', id]);
    expect(JSON.parse(unpinned.stdout)).toMatchObject({ id, pinned: false });
    expect((await cli(['adapters', 'delete', id])).stdout).toContain(`${id} deleted`);
    const gone = await cli(['adapters', 'get', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/No adapter with id.*HTTP 404/);
  });

  it('exits non-zero with the server\'s error message', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cli-'));
    writeFileSync(path.join(dir, 'doc.txt'), 'x');
    const r = await cli(['generate', '--model', 'no-such-model', '--context-file', path.join(dir, 'doc.txt'), '--out', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No model named "no-such-model".*not_found, HTTP 404/);
    const missing = await cli(['jobs', 'get', 'job_000000000000000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No job with id/);
    expect((await cli(['frobnicate'])).code).toBe(2);
  });
});

describe('HyperadaptClient', () => {
  it('round-trips through every read endpoint and refuses a file whose sha256 does not match', async () => {
    const job = await client.createAdapter({ model: MODEL, input: { context: 'client check' } }, { wait: 10 });
    expect(job.status).toBe('succeeded');
    const adapter = await client.getAdapter(job.adapter_id!);
    expect((await client.listAdapters({ model: MODEL })).data.map((a) => a.id)).toContain(adapter.id);
    expect((await client.listJobs({ limit: 5 })).data.length).toBeGreaterThan(0);
    expect((await client.downloadFile(adapter, 'adapter_config.json')).length).toBe(adapter.files.find((f) => f.name === 'adapter_config.json')!.bytes);
    const forged = { ...adapter, files: adapter.files.map((f) => ({ ...f, sha256: '0'.repeat(64) })) };
    await expect(client.downloadFile(forged, 'adapter_config.json')).rejects.toMatchObject({ code: 'checksum_mismatch' });
    await expect(client.getJob('job_000000000000000000000000')).rejects.toBeInstanceOf(HyperadaptApiError);
    await client.deleteAdapter(adapter.id);
    await expect(client.getAdapter(adapter.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });
});
