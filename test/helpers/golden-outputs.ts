/**
 * FIXTURE — deterministic raw generator outputs for the golden safetensors files in
 * test/fixtures/golden/: two groups of a tiny llama-shaped manifest, batch 2, whose values
 * include every float16/bfloat16 edge the writer must get right (ties to even, subnormals,
 * underflow to ±0, the largest finite float16, negative zero) next to ordinary values.
 */
import type { Manifest } from '../../src/models/manifest-schema.js';

export const GOLDEN_MANIFEST = {
  id: 'golden',
  version: '0.0.1',
  method: 'test-fixture',
  description: 'FIXTURE for golden files',
  generator: 'generator.onnx',
  sha256: '0'.repeat(64),
  base_model: { name_or_path: 'hyperadapt/fixture-base', revision: 'fixture', arch: 'llama', num_layers: 2 },
  condition: { kind: 'text', tokenizer: 'tokenizer.json', fields: { context: { max_tokens: 8, required: true } } },
  inputs: [{ name: 'input_ids', dtype: 'int64', shape: ['batch', 'seq'], field: 'context', role: 'input_ids' }],
  pad_token_id: 0,
  padding_side: 'right',
  lora: { r: 4, lora_alpha: 8, use_rslora: false },
  groups: [
    { name: 'q_proj', output_a: 'lora_A__q_proj', output_b: 'lora_B__q_proj', in: 24, out: 24, modules: ['model.layers.0.self_attn.q_proj', 'model.layers.1.self_attn.q_proj'] },
    { name: 'down_proj', output_a: 'lora_A__down_proj', output_b: 'lora_B__down_proj', in: 40, out: 24, modules: ['model.layers.0.mlp.down_proj', 'model.layers.1.mlp.down_proj'] },
  ],
  formats: { supported: ['peft', 'diffusers', 'kohya'], default: 'peft' },
  task_type: 'CAUSAL_LM',
} as unknown as Manifest;

const EDGES = [
  0, -0, 1, -2, 0.5, 65504, -65504, 65519, 2 ** -24, -(2 ** -24), 2 ** -25, 3 * 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -24, 1e-9, 1 + 2 ** -11, 1 + 3 * 2 ** -11,
  0.1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.3895e38, 1e-40, 6.1e-5, 5.96e-8, 2.98e-8,
];

/** Batch of 2 rows for every output of GOLDEN_MANIFEST, as the generator would emit them. */
export function goldenOutputs(): Record<string, { data: Float32Array; dims: number[] }> {
  const out: Record<string, { data: Float32Array; dims: number[] }> = {};
  let seed = 7;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const r = 4;
  for (const g of GOLDEN_MANIFEST.groups) {
    for (const [name, dims] of [[g.output_a, [2, g.modules.length, r, g.in]], [g.output_b, [2, g.modules.length, g.out, r]]] as const) {
      const n = dims.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = i % 3 === 0 ? EDGES[(i / 3) % EDGES.length]! * (i % 2 ? 1 : -1) : (next() - 0.5) * 0.2;
      out[name] = { data, dims: [...dims] };
    }
  }
  return out;
}

/** EDGES that overflow float16 (3.3895e38 is bfloat16's largest finite): golden float16 files omit them. */
export function withoutFloat16Overflow(outputs: Record<string, { data: Float32Array; dims: number[] }>): Record<string, { data: Float32Array; dims: number[] }> {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { dims: v.dims, data: v.data.map((x) => (Math.abs(x) >= 65520 ? 65504 * Math.sign(x) : x)) }]));
}
