/**
 * Turns a generator's outputs into adapter files without copying tensor bytes. The graph emits,
 * per group g, `lora_A__g [batch, n_modules, r, in]` and `lora_B__g [batch, n_modules, out, r]`;
 * once the batch is converted to the requested dtype (one buffer per output), a row's modules are
 * views into those buffers, and each file is planned as the parts a vectored write sends.
 */
import type { Manifest } from '../models/manifest-schema.js';
import { targetModules } from '../models/model-view.js';
import { DTYPE_BYTES, encodeTensor, firstNonFiniteEncoded, SAFETENSORS_DTYPE, type Dtype } from './dtype.js';
import { planSafetensors, type SafetensorsTensor } from './safetensors.js';
import { GenerationError } from './generation-error.js';

/** Ranks vLLM's `--max-lora-rank` accepts. */
export const VLLM_RANKS = [1, 8, 16, 32, 64, 128, 256, 320, 512];

/** One module's LoRA matrices as little-endian bytes of the adapter's dtype (views, not copies). */
export interface ModuleLora {
  module: string;
  /** [r, in], row-major */
  a: Uint8Array;
  /** [out, r], row-major */
  b: Uint8Array;
  r: number;
  in: number;
  out: number;
}

export interface RawOutputs {
  [name: string]: { data: Float32Array; dims: readonly number[] };
}

/** A batch's outputs in the adapter dtype: the whole batch's bytes per output name. */
export interface EncodedOutputs {
  [name: string]: { bytes: Uint8Array; dims: readonly number[] };
}

/** The dims each group's outputs must have for `batch` rows. */
export function expectedDims(manifest: Manifest, batch: number): Record<string, number[]> {
  const { r } = manifest.lora;
  const dims: Record<string, number[]> = {};
  for (const g of manifest.groups) {
    dims[g.output_a] = [batch, g.modules.length, r, g.in];
    dims[g.output_b] = [batch, g.modules.length, g.out, r];
  }
  return dims;
}

/** float32 values per batch row of each output. */
export function rowElements(manifest: Manifest): Readonly<Record<string, number>> {
  // Asked for every request and every batch: computed once per (immutable, loaded) manifest.
  let e = rowSizes.get(manifest);
  if (e === undefined) rowSizes.set(manifest, (e = Object.freeze(Object.fromEntries(Object.entries(expectedDims(manifest, 1)).map(([k, d]) => [k, d.reduce((a, b) => a * b, 1)])))));
  return e;
}
const rowSizes = new WeakMap<Manifest, Readonly<Record<string, number>>>();

/** Bytes one row of every output takes as float32 (what a batch row costs in memory). */
export function rowFloat32Bytes(manifest: Manifest): number {
  return Object.values(rowElements(manifest)).reduce((a, b) => a + b, 0) * 4;
}

/**
 * Refuses row `row` when a value is NaN, ±inf or overflows `dtype`, naming the module: one
 * integer pass over the row's converted bytes (see `firstNonFiniteEncoded`); `raw` (the float32
 * outputs) only tells a non-finite value from an overflow once one is found.
 */
export function checkRow(manifest: Manifest, encoded: EncodedOutputs, raw: RawOutputs, row: number, dtype: Dtype): void {
  const { r } = manifest.lora;
  for (const g of manifest.groups) {
    for (const [name, suffix, size] of [[g.output_a, 'lora_A', r * g.in], [g.output_b, 'lora_B', g.out * r]] as const) {
      const out = encoded[name];
      if (!out) throw new GenerationError(`the generator produced no ${name}`);
      const start = row * g.modules.length * size;
      const bad = firstNonFiniteEncoded(out.bytes, dtype, start, start + g.modules.length * size);
      if (bad < 0) continue;
      const where = `${g.modules[Math.floor((bad - start) / size)]}.${suffix}`;
      if (!Number.isFinite(raw[name]?.data[bad] ?? NaN)) throw new GenerationError(`the generator produced a non-finite value in ${where}; no adapter was written`);
      throw new GenerationError(`${where} overflows ${dtype}; request dtype float32${dtype === 'float16' ? ' or bfloat16' : ''}`);
    }
  }
}

/** Row `row`'s modules as views into the encoded batch. */
export function sliceModules(manifest: Manifest, outputs: EncodedOutputs, row: number, dtype: Dtype): ModuleLora[] {
  const { r } = manifest.lora;
  const size = DTYPE_BYTES[dtype];
  const out: ModuleLora[] = [];
  for (const g of manifest.groups) {
    const a = outputs[g.output_a];
    const b = outputs[g.output_b];
    if (!a || !b) throw new GenerationError(`the generator produced no ${!a ? g.output_a : g.output_b}`);
    const n = g.modules.length;
    const aSize = r * g.in * size;
    const bSize = g.out * r * size;
    const expectA = [a.dims[0]!, n, r, g.in];
    const expectB = [b.dims[0]!, n, g.out, r];
    if (a.dims.join() !== expectA.join() || b.dims.join() !== expectB.join()) {
      throw new GenerationError(`output shapes [${a.dims}] / [${b.dims}] do not match group ${g.name}`);
    }
    g.modules.forEach((module, i) => {
      const aOff = (row * n + i) * aSize;
      const bOff = (row * n + i) * bSize;
      out.push({ module, a: a.bytes.subarray(aOff, aOff + aSize), b: b.bytes.subarray(bOff, bOff + bSize), r, in: g.in, out: g.out });
    });
  }
  return out;
}

export interface Provenance {
  adapterId: string;
  modelId: string;
  modelSha256: string;
}

/** One file of an adapter, as the parts a vectored write sends (never concatenated). */
export interface PlannedFile {
  name: string;
  parts: Uint8Array[];
  bytes: number;
}

function small(name: string, text: string): PlannedFile {
  const data = Buffer.from(text, 'utf8');
  return { name, parts: [data], bytes: data.byteLength };
}

function safetensorsFile(name: string, tensors: Record<string, SafetensorsTensor>, meta: Record<string, string>): PlannedFile {
  const plan = planSafetensors(tensors, meta);
  return { name, parts: plan.parts, bytes: plan.bytes };
}

function tensor(data: Uint8Array, shape: number[], dtype: Dtype): SafetensorsTensor {
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
export function writePeftFiles(manifest: Manifest, modules: ModuleLora[], dtype: Dtype, prov: Provenance): PlannedFile[] {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const m of modules) {
    const base = `base_model.model.${m.module}`;
    tensors[`${base}.lora_A.weight`] = tensor(m.a, [m.r, m.in], dtype);
    tensors[`${base}.lora_B.weight`] = tensor(m.b, [m.out, m.r], dtype);
  }
  
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
    ...(manifest.base?.hf
      ? [
          `The base model ships with hyperadapt in Hugging Face format (\`models/${manifest.id}/${manifest.base.hf}\`,`,
          `the weights of the \`base.onnx\` the service evaluates with). From the hyperadapt repository:`,
          '',
          '```python',
          'from transformers import AutoModelForCausalLM, AutoTokenizer',
          'from peft import PeftModel',
          `tokenizer = AutoTokenizer.from_pretrained("models/${manifest.id}/${manifest.base.hf}")`,
          `base_model = AutoModelForCausalLM.from_pretrained("models/${manifest.id}/${manifest.base.hf}")`,
          `model = PeftModel.from_pretrained(base_model, "${prov.adapterId}")`,
          ...(manifest.base.prompts?.closed_book
            ? [`ids = tokenizer(${JSON.stringify(manifest.base.prompts.closed_book)}.format(question="…"), return_tensors="pt", add_special_tokens=False)`,
               `print(tokenizer.decode(model.generate(**ids, max_new_tokens=${manifest.base.max_new_tokens ?? 8}, do_sample=False)[0, ids.input_ids.shape[1]:], skip_special_tokens=True))`]
            : []),
          '```',
        ]
      : ['```python', 'from peft import PeftModel', `model = PeftModel.from_pretrained(base_model, "${prov.adapterId}")`, '```']),
    '',
  ].join('\n');
  return [
    small('adapter_config.json', JSON.stringify(config, null, 2) + '\n'),
    safetensorsFile('adapter_model.safetensors', tensors, metadata(manifest, prov, 'peft', dtype)),
    small('README.md', readme),
  ];
}

/** diffusers' `save_lora_weights` layout: `pytorch_lora_weights.safetensors`, keys `unet.<module>.lora_A.weight`. */
export function writeDiffusersFiles(manifest: Manifest, modules: ModuleLora[], dtype: Dtype, prov: Provenance): PlannedFile[] {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const m of modules) {
    tensors[`unet.${m.module}.lora_A.weight`] = tensor(m.a, [m.r, m.in], dtype);
    tensors[`unet.${m.module}.lora_B.weight`] = tensor(m.b, [m.out, m.r], dtype);
  }
  const meta = { ...metadata(manifest, prov, 'diffusers', dtype), 'hyperadapt.lora_alpha': String(manifest.lora.lora_alpha), 'hyperadapt.r': String(manifest.lora.r) };
  return [safetensorsFile('pytorch_lora_weights.safetensors', tensors, meta)];
}

/**
 * kohya / A1111 layout: `lora_unet_<module with dots as underscores>.lora_down.weight` [r, in],
 * `.lora_up.weight` [out, r] and a scalar `.alpha` (the loaders scale by alpha / r).
 */
export function writeKohyaFiles(manifest: Manifest, modules: ModuleLora[], dtype: Dtype, prov: Provenance): PlannedFile[] {
  const tensors: Record<string, SafetensorsTensor> = {};
  const alpha = encodeTensor(Float32Array.of(manifest.lora.lora_alpha), dtype);
  for (const m of modules) {
    const key = `lora_unet_${m.module.replace(/\./g, '_')}`;
    tensors[`${key}.lora_down.weight`] = tensor(m.a, [m.r, m.in], dtype);
    tensors[`${key}.lora_up.weight`] = tensor(m.b, [m.out, m.r], dtype);
    tensors[`${key}.alpha`] = tensor(alpha, [], dtype);
  }
  const meta = { ...metadata(manifest, prov, 'kohya', dtype), ss_network_dim: String(manifest.lora.r), ss_network_alpha: String(manifest.lora.lora_alpha), ss_network_module: 'networks.lora' };
  return [safetensorsFile('lora.safetensors', tensors, meta)];
}

/** The files of one adapter in the requested format. */
export function writeAdapterFiles(manifest: Manifest, modules: ModuleLora[], format: string, dtype: Dtype, prov: Provenance): PlannedFile[] {
  if (format === 'diffusers') return writeDiffusersFiles(manifest, modules, dtype, prov);
  if (format === 'kohya') return writeKohyaFiles(manifest, modules, dtype, prov);
  return writePeftFiles(manifest, modules, dtype, prov);
}
