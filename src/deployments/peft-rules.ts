/**
 * What vLLM, SGLang and PEFT require of a LoRA adapter directory, checked before one is handed to
 * an engine (and by the tests' stand-in engines): adapter_config.json with peft_type LORA,
 * bias "none", no modules_to_save, a rank within the engine's limit, and safetensors keys
 * `base_model.model.<module>.lora_A/B.weight` for exactly the configured target modules.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Reads only the safetensors header (8-byte length + JSON): never the tensors. */
async function safetensorsKeys(file: string): Promise<Record<string, { shape: number[] }>> {
  const handle = await fs.open(file, 'r');
  try {
    const len = Buffer.alloc(8);
    await handle.read(len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (n > 100 * 1024 * 1024) throw new Error('safetensors header too large');
    const header = Buffer.alloc(n);
    await handle.read(header, 0, n, 8);
    const parsed = JSON.parse(header.toString('utf8')) as Record<string, { shape: number[] }>;
    delete parsed.__metadata__;
    return parsed;
  } finally {
    await handle.close();
  }
}

/**
 * The problems that would keep an engine from loading the adapter in `dir` (empty: none).
 *
 * @example
 * const problems = await peftProblems('/srv/loras/ad_…', { maxRank: 16, baseModel: 'mistralai/Mistral-7B-v0.1' });
 */
export async function peftProblems(dir: string, want: { maxRank?: number; baseModel?: string } = {}): Promise<string[]> {
  const problems: string[] = [];
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await fs.readFile(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    return [`adapter_config.json: ${(err as Error).message}`];
  }
  if (config.peft_type !== 'LORA') problems.push(`peft_type is ${String(config.peft_type)}, not LORA`);
  if (config.bias !== 'none') problems.push(`bias is ${String(config.bias)}, not "none"`);
  if (config.modules_to_save != null) problems.push('modules_to_save is set');
  const r = config.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) problems.push('r is not a positive integer');
  else if (want.maxRank !== undefined && r > want.maxRank) problems.push(`rank ${r} exceeds the engine's max_lora_rank ${want.maxRank}`);
  if (want.baseModel !== undefined && config.base_model_name_or_path !== want.baseModel) problems.push(`base_model_name_or_path is ${String(config.base_model_name_or_path)}, not the served model ${want.baseModel}`);
  const modules = Array.isArray(config.target_modules) ? (config.target_modules as string[]) : [];
  if (modules.length === 0) problems.push('target_modules is empty');
  let keys: Record<string, { shape: number[] }>;
  try {
    keys = await safetensorsKeys(path.join(dir, 'adapter_model.safetensors'));
  } catch (err) {
    return [...problems, `adapter_model.safetensors: ${(err as Error).message}`];
  }
  const pattern = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;
  for (const [key, t] of Object.entries(keys)) {
    const m = pattern.exec(key);
    if (!m) {
      problems.push(`unexpected tensor ${key}`);
      continue;
    }
    const leaf = m[1]!.split('.').pop()!;
    if (!modules.includes(leaf)) problems.push(`tensor ${key} is for a module not in target_modules`);
    const rankDim = m[2] === 'A' ? t.shape[0] : t.shape[1];
    if (typeof r === 'number' && rankDim !== r) problems.push(`tensor ${key} has rank ${rankDim}, config says ${r}`);
  }
  const names = Object.keys(keys);
  for (const k of names.filter((n) => n.endsWith('.lora_A.weight'))) {
    if (!names.includes(k.replace('.lora_A.weight', '.lora_B.weight'))) problems.push(`${k} has no lora_B`);
  }
  if (names.length === 0) problems.push('no LoRA tensors');
  return problems;
}
