/**
 * Turns a generator's raw outputs into adapter files. The graph emits, per group g,
 * `lora_A__g [batch, n_modules, r, in]` and `lora_B__g [batch, n_modules, out, r]`; one batch row
 * is sliced into per-module matrices and written in the requested format.
 */
import { createHash } from 'node:crypto';
import type { Manifest } from '../models/manifest-schema.js';
import { targetModules } from '../models/model-view.js';
import { encodeTensor, firstNonFinite, SAFETENSORS_DTYPE, type Dtype } from './dtype.js';
import { writeSafetensors, type SafetensorsTensor } from './safetensors.js';
import { GenerationError } from './generation-error.js';

/** Ranks vLLM's `--max-lora-rank` accepts. */
export const VLLM_RANKS = [1, 8, 16, 32, 64, 128, 256, 320, 512];

export interface ModuleLora {
  module: string;
  /** [r, in], row-major */
  a: Float32Array;
  /** [out, r], row-major */
  b: Float32Array;
  r: number;
  in: number;
  out: number;
}

export interface RawOutputs {
  [name: string]: { data: Float32Array; dims: readonly number[] };
}

/** Slices batch row `row` of every group into per-module A and B. */
export function sliceModules(manifest: Manifest, outputs: RawOutputs, row: number): ModuleLora[] {
  const { r } = manifest.lora;
  const out: ModuleLora[] = [];
  for (const g of manifest.groups) {
    const a = outputs[g.output_a];
    const b = outputs[g.output_b];
    if (!a || !b) throw new GenerationError(`the generator produced no ${!a ? g.output_a : g.output_b}`);
    const n = g.modules.length;
    const aSize = r * g.in;
    const bSize = g.out * r;
    const expectA = [a.dims[0]!, n, r, g.in];
    const expectB = [b.dims[0]!, n, g.out, r];
    if (a.dims.join() !== expectA.join() || b.dims.join() !== expectB.join()) {
      throw new GenerationError(`output shapes [${a.dims}] / [${b.dims}] do not match group ${g.name}`);
    }
    g.modules.forEach((module, i) => {
      const aOff = (row * n + i) * aSize;
      const bOff = (row * n + i) * bSize;
      out.push({ module, a: a.data.subarray(aOff, aOff + aSize), b: b.data.subarray(bOff, bOff + bSize), r, in: g.in, out: g.out });
    });
  }
  return out;
}

export interface Provenance {
  adapterId: string;
  modelId: string;
  modelSha256: string;
}

export interface AdapterFileBytes {
  name: string;
  data: Uint8Array;
}

function tensor(values: Float32Array, shape: number[], dtype: Dtype, name: string): SafetensorsTensor {
  const bad = firstNonFinite(values);
  if (bad >= 0) throw new GenerationError(`the generator produced a non-finite value in ${name}; no adapter was written`);
  const data = encodeTensor(values, dtype);
  if (dtype !== 'float32') {
    // float16 overflows to ±inf above 65504: refuse rather than write an unusable adapter.
    const back = new DataView(data.buffer);
    for (let i = 0; i < values.length; i++) {
      const bits = back.getUint16(i * 2, true);
      if ((bits & 0x7c00) === 0x7c00 && dtype === 'float16') throw new GenerationError(`${name} overflows float16; request dtype float32 or bfloat16`);
    }
  }
  return { dtype: SAFETENSORS_DTYPE[dtype], shape, data };
}

export function rankWarnings(r: number): string[] {
  return VLLM_RANKS.includes(r) ? [] : [`r=${r} is not a rank vLLM accepts (${VLLM_RANKS.join(', ')}); PEFT and LoRAX load it`];
}

function metadata(manifest: Manifest, prov: Provenance, format: string, dtype: Dtype): Record<string, string> {
  const warnings = rankWarnings(manifest.lora.r);
  return {
    format: 'pt',
    'hyperadapt.adapter_id': prov.adapterId,
    'hyperadapt.model': prov.modelId,
    'hyperadapt.model_sha256': prov.modelSha256,
    'hyperadapt.adapter_format': format,
    'hyperadapt.dtype': dtype,
    'hyperadapt.vllm_rank_ok': warnings.length === 0 ? 'true' : 'false',
    ...(warnings.length ? { 'hyperadapt.warning': warnings.join('; ') } : {}),
  };
}

/** PEFT's `save_pretrained` layout: adapter_config.json, adapter_model.safetensors, README.md. */
export function writePeftFiles(manifest: Manifest, modules: ModuleLora[], dtype: Dtype, prov: Provenance): AdapterFileBytes[] {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const m of modules) {
    const base = `base_model.model.${m.module}`;
    tensors[`${base}.lora_A.weight`] = tensor(m.a, [m.r, m.in], dtype, `${m.module}.lora_A`);
    tensors[`${base}.lora_B.weight`] = tensor(m.b, [m.out, m.r], dtype, `${m.module}.lora_B`);
  }
  const safetensors = writeSafetensors(tensors, metadata(manifest, prov, 'peft', dtype));
  const config = {
    alpha_pattern: {},
    base_model_name_or_path: manifest.base_model.name_or_path,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: manifest.lora.lora_alpha,
    lora_dropout: 0.0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: manifest.lora.r,
    rank_pattern: {},
    revision: manifest.base_model.revision ?? null,
    target_modules: targetModules(manifest),
    task_type: manifest.task_type,
    use_dora: false,
    use_rslora: manifest.lora.use_rslora,
  };
  const readme = [
    '---',
    `base_model: ${manifest.base_model.name_or_path}`,
    'library_name: peft',
    'tags: [lora, hyperadapt]',
    '---',
    '',
    `# ${prov.adapterId}`,
    '',
    `A LoRA adapter generated in one forward pass of \`${manifest.id}\` (${manifest.method}, version ${manifest.version},`,
    `generator sha256 \`${prov.modelSha256}\`) by hyperadapt. Rank ${manifest.lora.r}, lora_alpha ${manifest.lora.lora_alpha}, dtype ${dtype}.`,
    '',
    '```python',
    'from peft import PeftModel',
    `model = PeftModel.from_pretrained(base_model, "${prov.adapterId}")`,
    '```',
    '',
  ].join('\n');
  return [
    { name: 'adapter_config.json', data: Buffer.from(JSON.stringify(config, null, 2) + '\n', 'utf8') },
    { name: 'adapter_model.safetensors', data: safetensors },
    { name: 'README.md', data: Buffer.from(readme, 'utf8') },
  ];
}

export function fileDigest(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** diffusers' `save_lora_weights` layout: `pytorch_lora_weights.safetensors`, keys `unet.<module>.lora_A.weight`. */
export function writeDiffusersFiles(manifest: Manifest, modules: ModuleLora[], dtype: Dtype, prov: Provenance): AdapterFileBytes[] {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const m of modules) {
    tensors[`unet.${m.module}.lora_A.weight`] = tensor(m.a, [m.r, m.in], dtype, `${m.module}.lora_A`);
    tensors[`unet.${m.module}.lora_B.weight`] = tensor(m.b, [m.out, m.r], dtype, `${m.module}.lora_B`);
  }
  const meta = { ...metadata(manifest, prov, 'diffusers', dtype), 'hyperadapt.lora_alpha': String(manifest.lora.lora_alpha), 'hyperadapt.r': String(manifest.lora.r) };
  return [{ name: 'pytorch_lora_weights.safetensors', data: writeSafetensors(tensors, meta) }];
}

/**
 * kohya / A1111 layout: `lora_unet_<module with dots as underscores>.lora_down.weight` [r, in],
 * `.lora_up.weight` [out, r] and a scalar `.alpha` (the loaders scale by alpha / r).
 */
export function writeKohyaFiles(manifest: Manifest, modules: ModuleLora[], dtype: Dtype, prov: Provenance): AdapterFileBytes[] {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const m of modules) {
    const key = `lora_unet_${m.module.replace(/\./g, '_')}`;
    tensors[`${key}.lora_down.weight`] = tensor(m.a, [m.r, m.in], dtype, `${m.module}.lora_down`);
    tensors[`${key}.lora_up.weight`] = tensor(m.b, [m.out, m.r], dtype, `${m.module}.lora_up`);
    tensors[`${key}.alpha`] = tensor(Float32Array.of(manifest.lora.lora_alpha), [], dtype, `${m.module}.alpha`);
  }
  const meta = { ...metadata(manifest, prov, 'kohya', dtype), ss_network_dim: String(manifest.lora.r), ss_network_alpha: String(manifest.lora.lora_alpha), ss_network_module: 'networks.lora' };
  return [{ name: 'lora.safetensors', data: writeSafetensors(tensors, meta) }];
}

/** The files of one adapter in the requested format. */
export function writeAdapterFiles(manifest: Manifest, modules: ModuleLora[], format: string, dtype: Dtype, prov: Provenance): AdapterFileBytes[] {
  if (format === 'diffusers') return writeDiffusersFiles(manifest, modules, dtype, prov);
  if (format === 'kohya') return writeKohyaFiles(manifest, modules, dtype, prov);
  return writePeftFiles(manifest, modules, dtype, prov);
}
