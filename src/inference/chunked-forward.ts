/**
 * A chunked (additive-state) model's forward pass for a batch of requests, in the inference
 * thread: every request's context is split into windows (text-windows.ts), the windows of all
 * requests run as rows of the generator's passes (`passRows` at a time, so progress can be
 * reported and a canceled request dropped between passes), each request's window states are
 * summed — onto its parent's closed state when it extends one — and one pass of the combine graph
 * turns the sums into the LoRA tensors. Each request also gets the state its own extension will
 * need (closed windows' sum, last window's tokens). Progress is reported after every pass for
 * documents of more than one window.
 */
import type * as ort from 'onnxruntime-node';
import type { TextTokenizer } from '../conditioning/text-tokenizer.js';
import { packWindows } from '../conditioning/text-windows.js';
import type { ExtensionState } from '../adapters/extension-state.js';
import type { Manifest } from '../models/manifest-schema.js';
import { buildTextFeeds } from './text-feeds.js';
import type { GenerateItem, ItemResult } from './thread-protocol.js';

export interface ChunkedModel {
  manifest: Manifest;
  session: ort.InferenceSession;
  tokenizer: TextTokenizer;
  sentenceEnds: ReadonlySet<number>;
}

export interface ChunkedHooks {
  passRows: number;
  /** Builds a tensor (the thread's own onnxruntime instance). */
  tensor: (type: 'int64' | 'int32' | 'float32', data: BigInt64Array | Int32Array | Float32Array, dims: number[]) => ort.Tensor;
  progress: (progressId: string, done: number, total: number) => void;
  /** Lets queued messages (drops) in, then says whether the item was dropped. */
  dropped: (progressId: string) => Promise<boolean>;
}

export interface ChunkedStates {
  /** [rows, state_size]: each kept request's summed state, the combine graph's input. */
  summed: Float32Array;
  rowOf: number[];
  rows: number;
  /** Per item: what its adapter's state file keeps. */
  states: (ExtensionState | undefined)[];
}

interface Doc {
  index: number;
  windows: number[][];
  /** The closed windows' sum (the parent's, plus every window of this input but the last). */
  closed: Float32Array;
  done: number;
  newTokens: number;
  parent: ExtensionState | undefined;
  progressId: string | undefined;
}

/**
 * @example
 * const { summed, rowOf, rows, states } = await readWindows(model, task.items, results, hooks);
 */
export async function readWindows(model: ChunkedModel, items: GenerateItem[], results: (ItemResult | undefined)[], hooks: ChunkedHooks): Promise<ChunkedStates> {
  const { manifest } = model;
  const chunking = manifest.chunking!;
  if (manifest.condition.kind !== 'text') throw new Error('chunking needs a text model');
  const [field, spec] = Object.entries(manifest.condition.fields)[0]!;
  const S = chunking.state_size;
  const docs: Doc[] = [];
  items.forEach((item, index) => {
    const text = item.input?.[field];
    if (text === undefined) {
      results[index] = { ok: false, error: { code: 'unprocessable_input', message: `this model reads ${field}`, retryable: false } };
      return;
    }
    if (item.parent && item.parent.closed.length !== S) {
      results[index] = { ok: false, error: { code: 'generation_failed', message: `the parent's state has ${item.parent.closed.length} values; the model's has ${S}`, retryable: false } };
      return;
    }
    const ids = model.tokenizer.encode(text);
    const windows = packWindows([...(item.parent?.tail ?? []), ...ids], spec.max_tokens, model.sentenceEnds);
    if (windows.length === 0) {
      results[index] = { ok: false, error: { code: 'unprocessable_input', message: `${field} has no tokens`, retryable: false } };
      return;
    }
    // A document of one window and no parent has nothing closed: an empty state, not S zeros
    // (no allocation, nothing copied to the writer, an empty tensor in its state file).
    const closed = item.parent ? Float32Array.from(item.parent.closed) : new Float32Array(windows.length > 1 ? S : 0);
    docs.push({ index, windows, closed, done: 0, newTokens: ids.length, parent: item.parent, progressId: item.progressId });
  });

  // Each document's sum is built in its row of `sums` (the combine graph's input): its last
  // window's state is copied there, its closed windows' go into `closed`, added at the end. The
  // window passes write their states into one reused buffer (onnxruntime fills it in place)
  // instead of a new output per pass.
  const sums = new Float32Array(docs.length * S);
  const rowsPerPass = Math.max(1, hooks.passRows);
  const passOut = new Float32Array(Math.min(rowsPerPass, docs.reduce((n, d) => n + d.windows.length, 0)) * S);

  const queue = docs.flatMap((d, slot) => d.windows.map((_, w) => ({ d, w, slot })));
  while (queue.length > 0) {
    const pass = queue.splice(0, rowsPerPass);
    const feeds = buildTextFeeds(manifest, pass.map(({ d, w }) => ({ [field]: d.windows[w]! })));
    const state = passOut.subarray(0, pass.length * S);
    await model.session.run(
      Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, hooks.tensor(v.type, v.data, v.dims)])),
      { state: hooks.tensor('float32', state, [pass.length, S]) },
    );
    pass.forEach(({ d, w, slot }, row) => {
      const window = state.subarray(row * S, (row + 1) * S);
      // A row's first contribution is copied (memcpy), later ones added: the last window is the
      // only one written to `sums`; `closed` starts as zeros unless a parent's state is in it.
      if (w === d.windows.length - 1) sums.set(window, slot * S);
      else if (w === 0 && !d.parent) d.closed.set(window);
      else addInto(d.closed, window);
      d.done++;
    });
    for (const d of new Set(pass.map((p) => p.d))) {
      // A one-window document has nothing between queued and done to report: its progress
      // event would be a Redis write and an event no one learns anything from.
      if (!d.progressId || d.windows.length === 1) continue;
      hooks.progress(d.progressId, d.done, d.windows.length);
      if (d.done < d.windows.length && (await hooks.dropped(d.progressId))) {
        results[d.index] = { ok: false, error: { code: 'canceled', message: 'every job waiting for this adapter was canceled', retryable: false } };
        for (let k = queue.length - 1; k >= 0; k--) if (queue[k]!.d === d) queue.splice(k, 1);
      }
    }
  }

  const slots = docs.flatMap((d, slot) => (results[d.index] ? [] : [slot]));
  // Dropped documents' rows leave the combine input (rare: only a cancel between passes).
  const summed = slots.length === docs.length ? sums : new Float32Array(slots.length * S);
  const rowOf: number[] = [];
  const states: (ExtensionState | undefined)[] = new Array(items.length);
  slots.forEach((slot, row) => {
    const d = docs[slot]!;
    rowOf[d.index] = row;
    if (summed !== sums) summed.set(sums.subarray(slot * S, (slot + 1) * S), row * S);
    if (d.closed.length > 0) addInto(summed.subarray(row * S, (row + 1) * S), d.closed);
    states[d.index] = {
      closed: d.closed,
      tail: d.windows[d.windows.length - 1]!,
      contextTokens: (d.parent?.contextTokens ?? 0) + d.newTokens,
      // The parent's last window is read again as the first of these.
      windows: (d.parent ? d.parent.windows - 1 : 0) + d.windows.length,
    };
  });
  return { summed, rowOf, rows: slots.length, states };
}

/** into[k] += from[k] for every k. */
function addInto(into: Float32Array, from: Float32Array): void {
  for (let k = 0; k < into.length; k++) into[k]! += from[k]!;
}
