/**
 * The decoding step the evaluation and the preview share survives a model whose first output
 * token is end-of-sequence: that answer is '' (scored as a miss), not a crash of `npm run eval`
 * ("token_ids must be a non-empty array"). The base LM here is a stand-in that returns fixed
 * generations; the tokenizer is the shipped model's.
 */
import path from 'node:path';
import { TextTokenizer } from '../../src/conditioning/text-tokenizer.js';
import { answer } from '../../src/runners/answer.js';
import type { BaseLm } from '../../src/runners/base-lm.js';
import type { Manifest } from '../../src/models/manifest-schema.js';
import { SHIPPED_MODELS_DIR } from '../helpers/test-service.js';

const tok = TextTokenizer.fromFile(path.join(SHIPPED_MODELS_DIR, 'generative-adapter-tiny', 'tokenizer.json'));

it('an empty generation decodes to an empty answer', async () => {
  expect(tok.decode([])).toBe('');
  const aldoria = tok.encode('aldoria');
  // Stand-in for BaseLm: row 0 stops at once (EOS first), row 1 says a word.
  const lm = { greedy: async (ids: number[][]) => ids.map((_, i) => (i === 0 ? [] : aldoria)) } as unknown as BaseLm;
  const manifest = { base: { eos_token_id: 3, max_new_tokens: 8 } } as unknown as Manifest;
  expect(await answer(lm, tok, manifest, ['question: who ? answer:', 'question: where ? answer:'], [{}, {}] as never)).toEqual(['', 'aldoria']);
});
