/**
 * The checks every served PEFT adapter must pass, whatever made it (shipped model, fixture,
 * 7B-shaped fixture): what `PeftModel.from_pretrained` reads — adapter_config.json's fields, and
 * safetensors keys `base_model.model.<module>.lora_{A,B}.weight` for exactly the manifest's
 * modules, shaped [r, in] / [out, r], in the requested dtype.
 */
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { SAFETENSORS_DTYPE, type Dtype } from '../../src/adapters/dtype.js';
import type { Manifest } from '../../src/models/manifest-schema.js';
import { targetModules } from '../../src/models/model-view.js';

export function expectPeftAdapter(manifest: Manifest, config: Record<string, unknown>, safetensors: Uint8Array, dtype: Dtype): void {
  expect(config).toMatchObject({
    peft_type: 'LORA',
    base_model_name_or_path: manifest.base_model.name_or_path,
    r: manifest.lora.r,
    lora_alpha: manifest.lora.lora_alpha,
    use_rslora: manifest.lora.use_rslora,
    task_type: manifest.task_type,
    bias: 'none',
    fan_in_fan_out: false,
    use_dora: false,
  });
  expect([...(config.target_modules as string[])].sort()).toEqual([...targetModules(manifest)].sort());
  const st = readSafetensors(safetensors);
  expect(st.metadata.format).toBe('pt');
  const modules = manifest.groups.flatMap((g) => g.modules);
  expect(Object.keys(st.tensors)).toHaveLength(modules.length * 2);
  for (const g of manifest.groups) {
    for (const m of g.modules) {
      const a = st.tensors[`base_model.model.${m}.lora_A.weight`];
      const b = st.tensors[`base_model.model.${m}.lora_B.weight`];
      expect(a?.shape).toEqual([manifest.lora.r, g.in]);
      expect(b?.shape).toEqual([g.out, manifest.lora.r]);
      expect(a?.dtype).toBe(SAFETENSORS_DTYPE[dtype]);
      expect(b?.dtype).toBe(SAFETENSORS_DTYPE[dtype]);
    }
  }
}
