/**
 * readWindows (the inference thread's chunked pass): windows of all requests run as rows of
 * passes, each request's states summed onto its parent's; progress after every pass; and a
 * request whose jobs were all canceled stops between passes — its remaining windows are never
 * run. The generator session is a stand-in (state row = [window length, first id]); the
 * tokenizer is the chunked test fixture's.
 */
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { readWindows } from '../../src/inference/chunked-forward.js';
import { TextTokenizer } from '../../src/conditioning/text-tokenizer.js';
import type { Manifest } from '../../src/models/manifest-schema.js';
import type { GenerateItem, ItemResult } from '../../src/inference/thread-protocol.js';
import { FIXTURE_MODELS_DIR } from '../helpers/test-service.js';

const tok = TextTokenizer.fromFile(path.join(FIXTURE_MODELS_DIR, 'fixture-chunked-tiny', 'tokenizer.json'));
const manifest = {
  condition: { kind: 'text', tokenizer: 'tokenizer.json', fields: { context: { max_tokens: 6, required: true } } },
  inputs: [
    { name: 'input_ids', dtype: 'int64', shape: ['batch', 'seq'], field: 'context', role: 'input_ids' },
    { name: 'attention_mask', dtype: 'int64', shape: ['batch', 'seq'], field: 'context', role: 'attention_mask' },
  ],
  pad_token_id: 0,
  padding_side: 'right',
  chunking: { mode: 'additive-state', max_chunks: 16, graph: 'combine.onnx', sha256: '0'.repeat(64), state_size: 2 },
} as unknown as Manifest;

/**
 * Stand-in generator: per row, [unpadded length, first id]; counts the rows it ran. Like
 * onnxruntime, it writes into a preallocated output when the caller passes one.
 */
function session(): { s: ort.InferenceSession; rows: () => number } {
  let rows = 0;
  const s = {
    run: async (feeds: Record<string, { data: BigInt64Array; dims: number[] }>, fetches?: Record<string, { data: Float32Array; dims: number[] }>) => {
      const [b, t] = feeds.input_ids!.dims as [number, number];
      rows += b;
      if (fetches?.state) expect(fetches.state.dims).toEqual([b, 2]);
      const out = fetches?.state?.data ?? new Float32Array(b * 2);
      for (let i = 0; i < b; i++) {
        let len = 0;
        for (let j = 0; j < t; j++) len += Number(feeds.attention_mask!.data[i * t + j]);
        out[i * 2] = len;
        out[i * 2 + 1] = Number(feeds.input_ids!.data[i * t]);
      }
      return { state: { data: out } };
    },
  } as unknown as ort.InferenceSession;
  return { s, rows: () => rows };
}

const tensor = (_t: string, data: unknown, dims: number[]) => ({ data, dims }) as unknown as ort.Tensor;
const item = (context: string, extra: Partial<GenerateItem> = {}): GenerateItem => ({ tenant: 't', adapterId: 'ad_x', modelSha256: 'x', input: { context }, options: { dtype: 'float32', format: 'peft' }, ...extra });
const DOC = 'the city . a red . blue is of the city . and works . green . the red city . blue . a city .';

it('sums each request\'s window states, reports progress per pass (documents of several windows), and keeps the extension state', async () => {
  const { s, rows } = session();
  const progress: [string, number, number][] = [];
  const results: (ItemResult | undefined)[] = [undefined, undefined];
  const out = await readWindows({ manifest, session: s, tokenizer: tok, sentenceEnds: tok.sentenceEnds() }, [item(DOC, { progressId: 'a' }), item('the city .', { progressId: 'b' })], results, {
    passRows: 2, tensor, progress: (id, d, t) => progress.push([id, d, t]), dropped: async () => false,
  });
  const ids = tok.encode(DOC);
  expect(out.rows).toBe(2);
  // Row 0: the sum of [len, first id] over the document's windows = [tokens, Σ first ids].
  expect(out.summed[0]).toBe(ids.length);
  expect(out.states[0]!.contextTokens).toBe(ids.length);
  expect(out.states[0]!.tail.length).toBeGreaterThan(0);
  expect(out.states[0]!.closed[0]! + out.states[0]!.tail.length).toBe(ids.length);
  const windows = out.states[0]!.windows;
  expect(rows()).toBe(windows + 1);
  // Rows run in order, two per pass: 'a' has read 2, 4, … of its windows after each pass it is in.
  expect(progress.filter(([id]) => id === 'a').map(([, d, t]) => [d, t])).toEqual(Array.from({ length: Math.ceil(windows / 2) }, (_, k) => [Math.min(2 * (k + 1), windows), windows]));
  // 'b' is one window: read in one pass, nothing in between to report.
  expect(out.states[1]!.windows).toBe(1);
  // … and nothing closed: an empty state (its sum is its one window's state).
  expect(out.states[1]!.closed).toHaveLength(0);
  expect(out.summed[manifest.chunking!.state_size]).toBe(tok.encode('the city .').length);
  expect(progress.filter(([id]) => id === 'b')).toEqual([]);
  expect(results).toEqual([undefined, undefined]);
});

it('stops reading a dropped request between passes; the others go on', async () => {
  const { s, rows } = session();
  const results: (ItemResult | undefined)[] = [undefined, undefined];
  const out = await readWindows({ manifest, session: s, tokenizer: tok, sentenceEnds: tok.sentenceEnds() }, [item(DOC, { progressId: 'a' }), item(DOC, { progressId: 'b' })], results, {
    passRows: 1, tensor, progress: () => undefined, dropped: async (id) => id === 'a',
  });
  expect(results[0]).toMatchObject({ ok: false, error: { code: 'canceled' } });
  expect(results[1]).toBeUndefined();
  expect(out.rows).toBe(1);
  // 'a' ran one window, 'b' all of its own.
  expect(rows()).toBe(1 + out.states[1]!.windows);
});

it('extends: the parent\'s closed state is the start, its last window is read again first', async () => {
  const { s } = session();
  const results: (ItemResult | undefined)[] = [undefined];
  const parent = { closed: Float32Array.from([100, 7]), tail: tok.encode('blue .'), contextTokens: 50, windows: 5 };
  const out = await readWindows({ manifest, session: s, tokenizer: tok, sentenceEnds: tok.sentenceEnds() }, [item('a city .', { parent })], results, { passRows: 4, tensor, progress: () => undefined, dropped: async () => false });
  const added = tok.encode('a city .').length;
  expect(out.summed[0]).toBe(100 + parent.tail.length + added);
  expect(out.states[0]).toMatchObject({ contextTokens: 50 + added, windows: 5 });
});
