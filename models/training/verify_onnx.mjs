// node models/training/verify_onnx.mjs <model dir> <reference json from export.py>
// Checks generator.onnx and base.onnx (onnxruntime-node, 2 threads) against torch outputs,
// that padding in a batch does not change a row, and that all-zero adapters give the base.
// Chunking models (manifest.chunking, additive-state): generator.onnx gives each window's state,
// the states of a 3-window document are summed and combine.onnx must give torch's adapter (1e-5).
import { ort, man, ref, session, check, maxdiff, maxabs, done } from './verify_common.mjs';

const gen = await session(man.generator);
const base = await session(man.base.file);
const i64 = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

const outNames = man.groups.flatMap((g) => [g.output_a, g.output_b]);
const baseIn = ['input_ids', 'attention_mask', ...man.groups.flatMap((g) => [g.output_a, g.output_b])];
check('base inputs', JSON.stringify(base.inputNames) === JSON.stringify(baseIn), base.inputNames.join(','));
check('generator inputs', JSON.stringify(gen.inputNames) === JSON.stringify(man.inputs.map((x) => x.name)), gen.inputNames.join(','));
const genFeeds = { input_ids: i64(ref.gen_input_ids), attention_mask: i64(ref.gen_attention_mask) };
const rowLen = (r) => ref.gen_attention_mask[r].reduce((a, b) => a + b, 0);
const alone = (r) => { const ids = [ref.gen_input_ids[r].slice(0, rowLen(r))]; return { input_ids: i64(ids), attention_mask: i64(ids.map((x) => x.map(() => 1))) }; };
let gout; // the adapters of the reference rows, keyed by output name
if (man.chunking) {
  // chunking (additive state): generator.onnx = window -> state; combine.onnx = summed state -> LoRA
  const ch = man.chunking;
  check('chunking mode', ch.mode === 'additive-state', ch.mode);
  const comb = await session(ch.graph);
  check('generator output', JSON.stringify(gen.outputNames) === '["state"]', gen.outputNames.join(','));
  check('combine inputs', JSON.stringify(comb.inputNames) === '["state"]', comb.inputNames.join(','));
  check('combine outputs', JSON.stringify([...comb.outputNames].sort()) === JSON.stringify([...outNames].sort()), comb.outputNames.join(','));
  const st = (await gen.run(genFeeds)).state;       // [windows, S]
  const W = ref.gen_input_ids.length, S = ch.state_size;
  check('state shape', JSON.stringify(st.dims) === JSON.stringify([W, S]), JSON.stringify(st.dims));
  const ds = maxdiff(st.data, ref.window_state.data), ss = maxabs(ref.window_state.data);
  check('torch==onnx window states', ds <= 1e-5 * Math.max(1, ss), `max|diff|=${ds.toExponential(2)} (max|x|=${ss.toExponential(2)})`);
  for (let r = 0; r < W; r++) {   // padding invariance: a padded row == the row alone
    const one = (await gen.run(alone(r))).state;
    const d = maxdiff(one.data, st.data.subarray(r * S, (r + 1) * S));
    check(`window ${r} (len ${rowLen(r)}) in padded batch == alone`, d <= 1e-5 * Math.max(1, ss), `max|diff|=${d.toExponential(2)}`);
  }
  // sum of the windows' states (row 0) and the first window alone (row 1) -> combine
  const sum = new Float32Array(2 * S);
  for (let r = 0; r < W; r++) for (let j = 0; j < S; j++) sum[j] += st.data[r * S + j];
  sum.set(st.data.subarray(0, S), S);
  gout = await comb.run({ state: new ort.Tensor('float32', sum, [2, S]) });
  // zero state -> zero A (an empty context gives the base)
  const z = await comb.run({ state: new ort.Tensor('float32', new Float32Array(S), [1, S]) });
  check('zero state -> zero lora_A', man.groups.every((g) => maxabs(z[g.output_a].data) === 0), '');
} else {
  check('generator outputs', JSON.stringify([...gen.outputNames].sort()) === JSON.stringify([...outNames].sort()), gen.outputNames.join(','));
  gout = await gen.run(genFeeds);
  for (let r = 0; r < 2; r++) {
    const one = await gen.run(alone(r));
    let worst = 0;
    for (const k of outNames) {
      const n = one[k].data.length;
      worst = Math.max(worst, maxdiff(one[k].data, gout[k].data.subarray(r * n, (r + 1) * n)));
    }
    check(`batch row ${r} (len ${rowLen(r)}) == alone`, worst <= 1e-4, `max|diff|=${worst.toExponential(2)}`);
  }
}
for (const g of man.groups) {
  for (const [key, dims] of [[g.output_a, [man.lora.r, g.in]], [g.output_b, [g.out, man.lora.r]]]) {
    const o = gout[key];
    const want = [2, g.modules.length, ...dims];
    check(`shape ${key}`, JSON.stringify(o.dims) === JSON.stringify(want), JSON.stringify(o.dims));
    const d = maxdiff(o.data, ref.gen_outputs[key].data);
    const scale = maxabs(ref.gen_outputs[key].data) + 1e-6;
    const tol = (man.chunking ? 1e-5 : 1e-4) * Math.max(1, scale);
    check(`torch==onnx ${key}`, d <= tol, `max|diff|=${d.toExponential(2)} (max|x|=${scale.toExponential(2)})`);
  }
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
const L = rowLen(0);
const f1 = alone(0);
for (let i = 0; i < 3; i++) await gen.run(f1);
const n = 20, t0 = performance.now();
for (let i = 0; i < n; i++) await gen.run(f1);
console.log(`generator.onnx forward, batch 1, ${L} tokens, 2 threads: ${((performance.now() - t0) / n).toFixed(2)} ms`);
done();
