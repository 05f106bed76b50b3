// node models/training/verify_img_onnx.mjs <model dir> <reference json from export_img.py>
// Checks hyper-personalize-tiny's generator.onnx, base.onnx and eval/attribute-classifier.onnx
// (onnxruntime-node, 2 threads) against torch, reading the conditioning PNGs with sharp; that
// masked padding images change nothing; and that all-zero LoRA tensors give the base.
import path from 'path';
import { require, ort, man, ref, session, check, maxdiff, maxabs, done } from './verify_common.mjs';
const sharp = require('../../node_modules/sharp');

const gen = await session(man.generator);
const base = await session(man.base.file);
const clf = await session(path.join('eval', 'attribute-classifier.onnx'));
const close = (name, got, want, tol = 1e-4) => {
  const d = maxdiff(got, want);
  const s = Math.max(1, maxabs(want));
  check(name, got.length === want.length && d <= tol * s, `max|diff|=${d.toExponential(2)} (max|x|=${s.toExponential(2)})`);
};

async function chw(file) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const hw = info.width * info.height;
  const out = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) out[c * hw + p] = (data[p * 3 + c] / 255 - 0.5) / 0.5;
  return out;
}

const imgs = await Promise.all(ref.eval_images.map(chw));
const per = imgs.length / 2;
const px = new Float32Array(imgs.length * 3 * 32 * 32);
imgs.forEach((im, i) => px.set(im, i * im.length));
const g = await gen.run({
  pixel_values: new ort.Tensor('float32', px, [2, per, 3, 32, 32]),
  image_mask: new ort.Tensor('float32', new Float32Array(2 * per).fill(1), [2, per]),
});
close('generator A == torch', g.lora_A__attn.data, ref.generator.lora_A__attn);
close('generator B == torch', g.lora_B__attn.data, ref.generator.lora_B__attn);

// subject 0 padded with 3 masked-out images of noise: same adapter
const padded = new Float32Array((per + 3) * 3 * 32 * 32);
padded.set(px.subarray(0, per * 3 * 32 * 32));
for (let i = per * 3 * 32 * 32; i < padded.length; i++) padded[i] = Math.sin(i);
const gp = await gen.run({
  pixel_values: new ort.Tensor('float32', padded, [1, per + 3, 3, 32, 32]),
  image_mask: new ort.Tensor('float32', Float32Array.from({ length: per + 3 }, (_, i) => (i < per ? 1 : 0)), [1, per + 3]),
});
close('masked padding changes nothing', gp.lora_B__attn.data, g.lora_B__attn.data.subarray(0, gp.lora_B__attn.data.length));

const b = ref.base;
const M = man.groups[0].modules.length;
const r = man.lora.r;
const D = man.groups[0].in;
const feeds = (a, bb) => ({
  sample: new ort.Tensor('float32', Float32Array.from(b.sample), [2, 3, 32, 32]),
  timestep: new ort.Tensor('float32', Float32Array.from(b.timestep), [2]),
  class_labels: new ort.Tensor('int64', BigInt64Array.from(b.class_labels.map(BigInt)), [2]),
  lora_A__attn: new ort.Tensor('float32', a, [2, M, r, D]),
  lora_B__attn: new ort.Tensor('float32', bb, [2, M, D, r]),
});
const z = await base.run(feeds(new Float32Array(2 * M * r * D), new Float32Array(2 * M * D * r)));
close('base, zero LoRA == torch base', z.velocity.data, b.velocity_zero_lora);
const ad = await base.run(feeds(Float32Array.from(ref.generator.lora_A__attn), Float32Array.from(ref.generator.lora_B__attn)));
close('base + generated LoRA == torch', ad.velocity.data, b.velocity_generated);
check('the generated LoRA changes the velocity', maxdiff(ad.velocity.data, z.velocity.data) > 1e-3);

const c = await clf.run({ pixel_values: new ort.Tensor('float32', imgs[0], [1, 3, 32, 32]) });
close('classifier features == torch', c.features.data, ref.classifier.features_s00_c0);
done();
