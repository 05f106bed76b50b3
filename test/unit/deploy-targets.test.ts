/** DEPLOY_TARGETS_FILE is validated at start-up; a problem names the file and the field. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeployTargets } from '../../src/deployments/targets.js';

function file(json: unknown): string {
  const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'targets-')), 'targets.json');
  writeFileSync(f, typeof json === 'string' ? json : JSON.stringify(json));
  return f;
}
const ok = { name: 'vllm-main', kind: 'vllm', url: 'http://127.0.0.1:8000', served_model: 'm', path: '/srv/loras', max_lora_rank: 16 };

describe('deployment targets', () => {
  it('reads targets, and scopes them to tenants', () => {
    const t = DeployTargets.fromFile(file({ targets: [ok, { ...ok, name: 'only-acme', tenants: ['acme'] }, { ...ok, name: 'resolver', kind: 'vllm-resolver', url: undefined }] }));
    expect(t.size).toBe(3);
    expect(t.forTenant('zeta', 'vllm-main')?.timeout_ms).toBe(30000);
    expect(t.forTenant('zeta', 'only-acme')).toBeUndefined();
    expect(t.forTenant('acme', 'only-acme')?.name).toBe('only-acme');
    expect(DeployTargets.fromFile('').size).toBe(0);
  });

  it.each([
    ['not JSON', '{', /DEPLOY_TARGETS_FILE .*targets\.json: .*JSON/],
    ['an unknown kind', { targets: [{ ...ok, kind: 'tgi' }] }, /targets\.0\.kind/],
    ['no url for vllm', { targets: [{ ...ok, url: undefined }] }, /targets\.0\.url: url is required for kinds vllm and sglang/],
    ['a relative path', { targets: [{ ...ok, path: 'loras' }] }, /targets\.0\.path: must be an absolute path/],
    ['a duplicate name', { targets: [ok, ok] }, /target names must be unique/],
    ['an unknown field', { targets: [{ ...ok, colour: 'blue' }] }, /targets\.0/],
  ])('refuses %s', (_what, json, message) => {
    expect(() => DeployTargets.fromFile(file(json))).toThrow(message);
  });
});
