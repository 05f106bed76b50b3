// node models/training/tok_check.mjs tokenizer.json cases.json  -> compares ids with Python's
import { Tokenizer } from '../../node_modules/@huggingface/tokenizers/dist/tokenizers.mjs';
import fs from 'fs';
const [tokPath, casesPath] = process.argv.slice(2);
const t = new Tokenizer(JSON.parse(fs.readFileSync(tokPath, 'utf8')), {});
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
let bad = 0;
for (const c of cases) {
  const ids = t.encode(c.text, { add_special_tokens: false }).ids;
  if (JSON.stringify(ids) !== JSON.stringify(c.ids)) {
    bad++; if (bad < 5) console.log('MISMATCH', JSON.stringify(c.text), JSON.stringify(ids), JSON.stringify(c.ids));
  }
  if (c.decoded !== undefined) {
    const d = t.decode(c.ids, { skip_special_tokens: true });
    if (d !== c.decoded) { bad++; if (bad < 5) console.log('DECODE MISMATCH', JSON.stringify(d), JSON.stringify(c.decoded)); }
  }
}
console.log(JSON.stringify({ cases: cases.length, mismatches: bad }));
process.exit(bad ? 1 : 0);
