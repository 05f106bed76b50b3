// node models/training/verify_onnx.mjs <model dir> <reference json from export.py>
// Checks generator.onnx and base.onnx (onnxruntime-node, 2 threads) against torch outputs,
// that padding in a batch does not change a row, and that all-zero adapters give the base.
import { ort, man, ref, session, check, maxdiff, maxabs, done } from './verify_common.mjs';

const gen = await session(man.generator);
const base = await session(man.base.file);
const i64 = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

// names
check('generator inputs', JSON.stringify(gen.inputNames) === JSON.stringify(man.inputs.map((x) => x.name)), gen.inputNames.join(','));
const outNames = man.groups.flatMap((g) => [g.output_a, g.output_b]);
check('generator outputs', JSON.stringify([...gen.outputNames].sort()) === JSON.stringify([...outNames].sort()), gen.outputNames.join(','));
const baseIn = ['input_ids', 'attention_mask', ...man.groups.flatMap((g) => [g.output_a, g.output_b])];
check('base inputs', JSON.stringify(base.inputNames) === JSON.stringify(baseIn), base.inputNames.join(','));

// generator vs torch
const gout = await gen.run({ input_ids: i64(ref.gen_input_ids), attention_mask: i64(ref.gen_attention_mask) });
for (const g of man.groups) {
  for (const [key, dims] of [[g.output_a, [man.lora.r, g.in]], [g.output_b, [g.out, man.lora.r]]]) {
    const o = gout[key];
    const want = [2, g.modules.length, ...dims];
    check(`shape ${key}`, JSON.stringify(o.dims) === JSON.stringify(want), JSON.stringify(o.dims));
    const d = maxdiff(o.data, ref.gen_outputs[key].data);
    const scale = maxabs(ref.gen_outputs[key].data) + 1e-6;
    check(`torch==onnx ${key}`, d <= 1e-4 * Math.max(1, scale), `max|diff|=${d.toExponential(2)} (max|x|=${scale.toExponential(2)})`);
  }
}
// padding invariance: each row alone == row in the padded batch
for (let r = 0; r < 2; r++) {
  const len = ref.gen_attention_mask[r].reduce((a, b) => a + b, 0);
  const ids = [ref.gen_input_ids[r].slice(0, len)];
  const one = await gen.run({ input_ids: i64(ids), attention_mask: i64(ids.map((x) => x.map(() => 1))) });
  let worst = 0;
  for (const k of outNames) {
    const n = one[k].data.length;
    worst = Math.max(worst, maxdiff(one[k].data, gout[k].data.subarray(r * n, (r + 1) * n)));
  }
  check(`batch row ${r} (len ${len}) == alone`, worst <= 1e-4, `max|diff|=${worst.toExponential(2)}`);
}
// base with the generated adapters vs torch; zero adapters vs torch base
const feeds = { input_ids: i64(ref.base_input_ids), attention_mask: i64(ref.base_attention_mask) };
const zfeeds = { ...feeds };
for (const k of outNames) {
  feeds[k] = gout[k];
  zfeeds[k] = new ort.Tensor('float32', new Float32Array(gout[k].data.length), gout[k].dims);
}
const lo = await base.run(feeds);
const dl = maxdiff(lo.logits.data, ref.logits_with_lora.data);
check('base+adapter logits torch==onnx', dl <= 1e-3, `max|diff|=${dl.toExponential(2)}`);
const lz = await base.run(zfeeds);
const dz = maxdiff(lz.logits.data, ref.logits_no_lora.data);
check('base zero-adapter == torch base (no LoRA)', dz <= 1e-4, `max|diff|=${dz.toExponential(2)}`);
const dd = maxdiff(lz.logits.data, lo.logits.data);
check('adapter changes logits', dd > 1e-3, `max|diff|=${dd.toExponential(2)}`);
// timing: generator batch 1
const L = ref.gen_attention_mask[0].reduce((a, b) => a + b, 0);
const ids1 = [ref.gen_input_ids[0].slice(0, L)];
const f1 = { input_ids: i64(ids1), attention_mask: i64(ids1.map((x) => x.map(() => 1))) };
for (let i = 0; i < 3; i++) await gen.run(f1);
const n = 20, t0 = performance.now();
for (let i = 0; i < n; i++) await gen.run(f1);
console.log(`generator.onnx forward, batch 1, ${L} tokens, 2 threads: ${((performance.now() - t0) / n).toFixed(2)} ms`);
done();
