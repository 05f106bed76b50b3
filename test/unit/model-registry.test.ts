import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelLoadError, ModelRegistry } from '../../src/models/model-registry.js';
import { FIXTURE_MODELS_DIR } from '../helpers/test-service.js';

const FIXTURE = path.join(FIXTURE_MODELS_DIR, 'fixture-text-tiny');

/** A copy of the fixture model whose manifest `edit` changes. */
function brokenCopy(edit: (m: any, dir: string) => void): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'registry-'));
  const dir = path.join(root, 'broken');
  cpSync(FIXTURE, dir, { recursive: true });
  const file = path.join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  edit(m, dir);
  writeFileSync(file, JSON.stringify(m));
  return root;
}

async function loadError(root: string): Promise<string> {
  try {
    await ModelRegistry.load({ dirs: [root] });
  } catch (err) {
    expect(err).toBeInstanceOf(ModelLoadError);
    return (err as Error).message;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  throw new Error('expected the registry to refuse the model');
}

describe('model registry', () => {
  it('loads the fixture model and derives its public view', async () => {
    const registry = await ModelRegistry.load({ dirs: [FIXTURE_MODELS_DIR] });
    const m = registry.get('fixture-text-tiny')!;
    expect(m.view.kind).toBe('text');
    expect(m.view.lora.target_modules).toEqual(['q_proj', 'v_proj']);
    expect(m.tokenizer!.encode('the city').length).toBe(2);
  });

  it.each([
    ['a missing field', (m: any) => delete m.lora, /manifest\.json: invalid manifest[\s\S]*lora/],
    ['a wrong type', (m: any) => (m.lora.r = 'eight'), /lora\.r/],
    ['an unknown key', (m: any) => (m.colour = 'blue'), /colour|Unrecognized key/],
    ['a default format it does not support', (m: any) => (m.formats.default = 'kohya'), /formats\.default/],
    ['a bad sha256', (m: any) => (m.sha256 = 'f'.repeat(64)), /sha256: generator\.onnx has sha256 [0-9a-f]{64}, the manifest says f{64}/],
    ['an output the graph lacks', (m: any) => (m.groups[0].output_a = 'lora_A__nope'), /groups\.0\.output_a: the graph has no output "lora_A__nope"/],
    ['a wrong module count', (m: any) => m.groups[0].modules.push('model.layers.9.self_attn.q_proj'), /groups\.0\.output_a: output "lora_A__q_proj" has \[batch, 2, 8, 32\], expected \[batch, 3, 8, 32\]/],
    ['an input the graph lacks', (m: any) => (m.inputs[0].name = 'tokens'), /inputs\.0\.name: the graph has no input "tokens"/],
    ['a wrong input dtype', (m: any) => (m.inputs[0].dtype = 'int32'), /inputs\.0\.dtype: the graph's "input_ids" is int64, not int32/],
    ['a missing tokenizer', (m: any) => (m.condition.tokenizer = 'nope.json'), /condition\.tokenizer: file nope\.json does not exist/],
    ['a diffusion base with a sampler it does not know', (m: any) => (m.base = { file: 'generator.onnx', sha256: '0'.repeat(64), diffusion: { objective: 'ddpm', steps: 20, size: [32, 32], classes: ['a'], null_class: 1 } }), /base\.diffusion\.objective/],
  ])('refuses %s, naming the file and the field', async (_name, edit, message) => {
    const msg = await loadError(brokenCopy(edit));
    expect(msg).toContain('manifest.json');
    expect(msg).toMatch(message);
  });

  it('refuses a manifest that is not JSON', async () => {
    const root = brokenCopy(() => undefined);
    writeFileSync(path.join(root, 'broken', 'manifest.json'), '{ nope');
    expect(await loadError(root)).toMatch(/manifest\.json: not valid JSON/);
  });

  it('refuses at start-up, by name, a model whose tokenizer yields ids the generator cannot take', async () => {
    // A WordLevel tokenizer without an unknown token: an unseen word has no id (undefined).
    const root = brokenCopy((_m, dir) => {
      const tok = {
        version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: { type: 'Lowercase' },
        pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null,
        model: { type: 'WordLevel', vocab: { '[PAD]': 0, the: 1, city: 2, of: 3 }, unk_token: '[UNK]' },
      };
      writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok));
    });
    const msg = await loadError(root);
    expect(msg).toMatch(/^model fixture-text-tiny \(.*manifest\.json\): condition\.tokenizer: tokenizing "[^"]+" gives id undefined, which is not in the vocabulary \(0–3\); give the tokenizer an unknown token$/);
  });

  it('refuses a corrupted ONNX file through its sha256', async () => {
    const root = brokenCopy(() => undefined);
    appendFileSync(path.join(root, 'broken', 'generator.onnx'), Buffer.from([1, 2, 3]));
    expect(await loadError(root)).toMatch(/sha256/);
  });
});
