/**
 * The generator manifest of docs/model-contract.md as a strict zod schema. Unknown keys are
 * errors, so a typo in a manifest is caught at start-up, not at the first request.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256');
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a plain file name inside the model directory');
const modulePath = z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'must be a dotted module path');
const dim = z.union([z.number().int().positive(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)]);

export const textFieldSchema = z.strictObject({
  max_tokens: z.number().int().positive().max(1_000_000),
  required: z.boolean().default(true),
  description: z.string().optional(),
});

export const textConditionSchema = z.strictObject({
  kind: z.literal('text'),
  tokenizer: fileName,
  fields: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'field names are snake_case'), textFieldSchema)
    .refine((f) => Object.keys(f).length > 0, 'must declare at least one field'),
});

export const imageConditionSchema = z.strictObject({
  kind: z.literal('images'),
  min_images: z.number().int().min(1),
  max_images: z.number().int().min(1).max(64),
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  resize: z.enum(['cover', 'contain']),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  channels: z.literal('rgb'),
  background: z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]).optional(),
});

export const inputSchema = z.strictObject({
  name: z.string().min(1),
  dtype: z.enum(['int64', 'int32', 'float32']),
  shape: z.array(dim).min(1),
  field: z.string().optional(),
  role: z.enum(['input_ids', 'attention_mask', 'pixel_values', 'image_mask']),
});

export const groupSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_]+$/),
  output_a: z.string().min(1),
  output_b: z.string().min(1),
  in: z.number().int().positive(),
  out: z.number().int().positive(),
  modules: z.array(modulePath).min(1),
});

export const FORMATS = ['peft', 'diffusers', 'kohya'] as const;
export type AdapterFormat = (typeof FORMATS)[number];

export const manifestSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a lowercase id (a-z 0-9 . _ -)'),
    version: z.string().min(1).max(64),
    method: z.string().min(1).max(64),
    description: z.string().max(2000),
    generator: fileName.default('generator.onnx'),
    sha256: sha256Hex,
    base_model: z.strictObject({
      name_or_path: z.string().min(1),
      revision: z.string().optional(),
      arch: z.string().min(1),
      num_layers: z.number().int().positive(),
    }),
    condition: z.discriminatedUnion('kind', [textConditionSchema, imageConditionSchema]),
    inputs: z.array(inputSchema).min(1),
    pad_token_id: z.number().int().min(0).optional(),
    padding_side: z.enum(['left', 'right']).default('right'),
    lora: z.strictObject({
      r: z.number().int().positive(),
      lora_alpha: z.number().positive(),
      use_rslora: z.boolean().default(false),
    }),
    groups: z.array(groupSchema).min(1),
    formats: z.strictObject({ supported: z.array(z.enum(FORMATS)).min(1), default: z.enum(FORMATS) }),
    task_type: z.string().default('CAUSAL_LM'),
    /**
     * Long contexts: the text field's `max_tokens` is one window; a context of up to `max_chunks`
     * windows is read window by window. `additive-state`: the generator maps each window to a
     * partial state (output `state` [batch, state_size]); states add up over windows, and the
     * `graph` maps the summed state to the LoRA outputs. Adapters of such a model can be extended.
     */
    chunking: z
      .strictObject({
        mode: z.literal('additive-state'),
        max_chunks: z.number().int().min(1).max(4096),
        graph: fileName,
        sha256: sha256Hex,
        state_size: z.number().int().positive(),
      })
      .optional(),
    /** Largest batch the generator may run at once (its memory cap); unset = no model limit. */
    max_batch: z.number().int().positive().optional(),
    postprocess: z.array(z.strictObject({ op: z.string() }).passthrough()).optional(),
    base: z
      .strictObject({
        file: fileName,
        sha256: sha256Hex,
        prompts: z.record(z.string(), z.string()).optional(),
        eos_token_id: z.number().int().min(0).optional(),
        max_new_tokens: z.number().int().positive().optional(),
        /**
         * A directory of the model with the base in Hugging Face format (config.json,
         * model.safetensors, tokenizer): what a user loads the adapters onto with transformers + PEFT.
         */
        hf: fileName.optional(),
        /** Diffusion bases: how base.onnx is sampled (see docs/models.md). */
        diffusion: z
          .strictObject({
            /** x_t = (1 − t)·x0 + t·noise, base.onnx predicts noise − x0; Euler from t = 1 to 0. */
            objective: z.literal('rectified-flow'),
            steps: z.number().int().positive().max(1000),
            guidance: z.number().min(0).default(1),
            size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
            /** Class-prompt names by class_labels index. */
            classes: z.array(z.string().min(1)).min(1),
            /** The unconditional class index (classifier-free guidance). */
            null_class: z.number().int().min(0),
          })
          .optional(),
      })
      .optional(),
  })
  .superRefine((m, ctx) => {
    if (!m.formats.supported.includes(m.formats.default)) {
      ctx.addIssue({ code: 'custom', path: ['formats', 'default'], message: 'must be one of formats.supported' });
    }
    const names = new Set<string>();
    m.groups.forEach((g, i) => {
      for (const out of [g.output_a, g.output_b]) {
        if (names.has(out)) ctx.addIssue({ code: 'custom', path: ['groups', i], message: `output ${out} is named twice` });
        names.add(out);
      }
    });
    if (m.chunking) {
      const fields = m.condition.kind === 'text' ? Object.keys(m.condition.fields) : [];
      if (fields.length !== 1) ctx.addIssue({ code: 'custom', path: ['chunking'], message: 'chunking needs a text model with exactly one field' });
    }
    const modules = m.groups.flatMap((g) => g.modules);
    if (new Set(modules).size !== modules.length) ctx.addIssue({ code: 'custom', path: ['groups'], message: 'a module appears in two groups' });
    m.inputs.forEach((input, i) => {
      if (m.condition.kind === 'text') {
        if (input.role !== 'input_ids' && input.role !== 'attention_mask') {
          ctx.addIssue({ code: 'custom', path: ['inputs', i, 'role'], message: 'a text model takes input_ids and attention_mask' });
        }
        if (!input.field || !(input.field in m.condition.fields)) {
          ctx.addIssue({ code: 'custom', path: ['inputs', i, 'field'], message: 'must name one of condition.fields' });
        }
      } else if (input.role !== 'pixel_values' && input.role !== 'image_mask') {
        ctx.addIssue({ code: 'custom', path: ['inputs', i, 'role'], message: 'an image model takes pixel_values and image_mask' });
      }
    });
    if (m.condition.kind === 'text' && m.pad_token_id === undefined) {
      ctx.addIssue({ code: 'custom', path: ['pad_token_id'], message: 'a text model must declare pad_token_id' });
    }
    if (m.condition.kind === 'images' && m.condition.min_images > m.condition.max_images) {
      ctx.addIssue({ code: 'custom', path: ['condition', 'min_images'], message: 'must not exceed max_images' });
    }
  });

const versions = new WeakMap<object, string>();

/**
 * What identifies a model version in adapter addresses and records: the generator's sha256, or,
 * for a chunked model, the sha256 of its generator's and combine graph's digests together (a new
 * combine graph is a new version too).
 */
export function modelVersion(m: { sha256: string; chunking?: { sha256: string } | undefined }): string {
  if (!m.chunking) return m.sha256;
  // Asked on every request: hashed once per manifest.
  let v = versions.get(m);
  if (v === undefined) versions.set(m, (v = createHash('sha256').update(`${m.sha256}:${m.chunking.sha256}`).digest('hex')));
  return v;
}

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestGroup = z.infer<typeof groupSchema>;
export type TextCondition = z.infer<typeof textConditionSchema>;
