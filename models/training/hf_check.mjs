// node models/training/hf_check.mjs <model dir> <ids.json from hf_check.py> (logits.f32 beside it)
// base.onnx (onnxruntime-node, all-zero adapters) vs the hf/ weights run through lm.py: logits at
// every unpadded position within 1e-4; and hf/tokenizer.json through @huggingface/tokenizers
// gives the ids hf_check.py's WordPiece gave.
import fs from 'fs';
import path from 'path';
import { Tokenizer } from '../../node_modules/@huggingface/tokenizers/dist/tokenizers.mjs';
import { ort, dir, man, ref, refPath, session, check, done } from './verify_common.mjs';

const want = new Float32Array(fs.readFileSync(path.join(path.dirname(refPath), 'logits.f32')).buffer.slice(0));
const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'hf', 'tokenizer.json'), 'utf8')), {});
let same = 0;
ref.texts.forEach((t, i) => {
  const n = ref.attention_mask[i].reduce((a, b) => a + b, 0);
  if (JSON.stringify(tok.encode(t, { add_special_tokens: false }).ids) === JSON.stringify(ref.input_ids[i].slice(0, n))) same++;
});
check('hf/tokenizer.json ids (tokenizers.js) == hf_check.py WordPiece', same === ref.texts.length, `${same}/${ref.texts.length}`);

const B = ref.input_ids.length;
const T = ref.input_ids[0].length;
const i64 = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [B, T]);
const feeds = { input_ids: i64(ref.input_ids), attention_mask: i64(ref.attention_mask) };
for (const g of man.groups) {
  const L = g.modules.length;
  const r = man.lora.r;
  feeds[g.output_a] = new ort.Tensor('float32', new Float32Array(B * L * r * g.in), [B, L, r, g.in]);
  feeds[g.output_b] = new ort.Tensor('float32', new Float32Array(B * L * g.out * r), [B, L, g.out, r]);
}
const got = (await (await session(man.base.file)).run(feeds)).logits.data;
const V = got.length / (B * T);
let worst = 0;
let positions = 0;
for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
  if (!ref.attention_mask[b][t]) continue;
  positions++;
  for (let v = 0, o = (b * T + t) * V; v < V; v++) worst = Math.max(worst, Math.abs(got[o + v] - want[o + v]));
}
check(`hf/ weights in lm.py == ${man.base.file} logits`, want.length === got.length && worst <= 1e-4, `${positions} positions × ${V} logits, max|diff|=${worst.toExponential(2)}`);
done();
