/**
 * The text models' bases in Hugging Face format (models/<id>/hf/): the files a user loads with
 * `AutoModelForCausalLM.from_pretrained` describe base.onnx's architecture, and
 * models/training/hf_check.py shows (with Debian's PyTorch) that the hf/ weights reproduce
 * base.onnx's logits to 1e-4 and that adapters downloaded from this service, applied to them
 * exactly as PEFT applies its files, answer what the service's preview answers.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EvalItem } from '../../src/eval/evaluate-model.js';
import { call, REPO_ROOT, SHIPPED_MODELS_DIR, startTestService, type TestService } from '../helpers/test-service.js';

const MODELS = [
  { id: 'generative-adapter-tiny', field: 'context' as const },
  { id: 'iag-tiny', field: 'question' as const },
];
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { MODELS_DIR: SHIPPED_MODELS_DIR, GC_INTERVAL_SECONDS: '0' } });
});
afterAll(async () => svc?.close());

function python(args: string[]): Promise<{ status: number | null; out: string }> {
  // spawned, not spawnSync: the service the cases came from runs in this process
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/python3', [path.join(REPO_ROOT, 'models/training/hf_check.py'), ...args], { cwd: REPO_ROOT });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('exit', (status) => resolve({ status, out }));
  });
}

describe.each(MODELS)('$id/hf', ({ id, field }) => {
  const dir = path.join(SHIPPED_MODELS_DIR, id);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));

  it('is a LlamaForCausalLM of the base.onnx the manifest names, with its tokenizer', () => {
    expect(manifest.base.hf).toBe('hf');
    const config = JSON.parse(readFileSync(path.join(dir, 'hf', 'config.json'), 'utf8'));
    const tokenizer = JSON.parse(readFileSync(path.join(dir, manifest.condition.tokenizer), 'utf8'));
    expect(config).toMatchObject({ architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: manifest.base_model.num_layers, tie_word_embeddings: true, eos_token_id: manifest.base.eos_token_id, vocab_size: Object.keys(tokenizer.model.vocab).length });
    const q = manifest.groups.find((g: { name: string }) => g.name === 'q_proj');
    const gate = manifest.groups.find((g: { name: string }) => g.name === 'gate_proj');
    expect({ hidden: config.hidden_size, ffn: config.intermediate_size }).toEqual({ hidden: q.in, ffn: gate.out });
    expect(readFileSync(path.join(dir, 'hf', 'tokenizer.json'), 'utf8')).toBe(readFileSync(path.join(dir, manifest.condition.tokenizer), 'utf8'));
    const st = readFileSync(path.join(dir, 'hf', 'model.safetensors'));
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString());
    expect(header.__metadata__.source).toContain(manifest.base.sha256);
  });

  it("reproduces base.onnx, and the service's adapters answer through it as the preview does", async () => {
    const items = (JSON.parse(readFileSync(path.join(dir, 'eval-sample.json'), 'utf8')) as { items: EvalItem[] }).items.slice(0, 4);
    const cases = mkdtempSync(path.join(os.tmpdir(), `hf-cases-${id}-`));
    const list = [];
    for (const [i, it] of items.entries()) {
      // One adapter stored as float16: the check reads the dtype the file declares.
      const options = i === 0 ? { dtype: 'float16' } : {};
      const job = await call(svc.url, 'POST', '/v1/adapters', { model: id, input: { [field]: it[field] }, options }, { prefer: 'wait=30' });
      expect(job.body.status).toBe('succeeded');
      const adapterId = job.body.adapter_id as string;
      const p = await call(svc.url, 'POST', `/v1/adapters/${adapterId}/generate`, { question: it.question, compare_base: true });
      expect(p.status).toBe(200);
      const caseDir = `case-${i}-${adapterId}`;
      mkdirSync(path.join(cases, caseDir));
      for (const name of ['adapter_config.json', 'adapter_model.safetensors']) {
        const res = await fetch(`${svc.url}/v1/adapters/${adapterId}/files/${name}`);
        writeFileSync(path.join(cases, caseDir, name), Buffer.from(await res.arrayBuffer()));
      }
      // The adapter names its base as a user loads it: the Hugging Face copy, from the repository root.
      const adapterConfig = (await (await fetch(`${svc.url}/v1/adapters/${adapterId}/files/adapter_config.json`)).json()) as { base_model_name_or_path: string };
      expect(adapterConfig.base_model_name_or_path).toBe(`models/${id}/hf`);
      expect(existsSync(path.join(REPO_ROOT, adapterConfig.base_model_name_or_path, 'config.json'))).toBe(true);
      const readme = await (await fetch(`${svc.url}/v1/adapters/${adapterId}/files/README.md`)).text();
      expect(readme).toContain(`AutoModelForCausalLM.from_pretrained("models/${id}/hf")`);
      list.push({ dir: caseDir, prompt: p.body.prompt, output: p.body.output, base_output: p.body.base_output });
    }
    writeFileSync(path.join(cases, 'cases.json'), JSON.stringify(list));
    const r = await python(['--model', id, '--n', '12', '--cases', cases]);
    expect(r.out).toMatch(/ok {3}hf\/ weights in lm\.py == base\.onnx logits/);
    expect(r.out.match(/ok {3}hf\/ \+ PEFT files/g)?.length).toBe(items.length);
    expect(r.out).not.toMatch(/FAIL/);
    expect(r.status).toBe(0);
  }, 120000);
});
