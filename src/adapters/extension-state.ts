/**
 * What `extends` needs of an adapter of a chunked (additive-state) model, stored beside its
 * adapter files as `hyperadapt_state.safetensors`: the summed state of its closed windows and
 * the token ids of its last window (see text-windows.ts for why that is enough to extend it
 * exactly). An all-zero closed state (nothing closed yet) is stored as an empty tensor. PEFT,
 * vLLM and LoRAX ignore the file; it is not part of the adapter's weights.
 */
import { planSafetensors, readSafetensors } from './safetensors.js';
import type { PlannedFile } from './assemble.js';

export const STATE_FILE = 'hyperadapt_state.safetensors';

export interface ExtensionState {
  /** Σ of the closed windows' partial states (float32, the model's state_size; empty = all zeros). */
  closed: Float32Array;
  /** Token ids of the last (open) window. */
  tail: number[];
  /** Tokens read in total, through every ancestor. */
  contextTokens: number;
  /** Windows read in total. */
  windows: number;
}

/**
 * @example
 * files.push(planStateFile(state, { adapterId, modelSha256 }));
 */
export function planStateFile(state: ExtensionState, prov: { adapterId: string; modelSha256: string }): PlannedFile {
  // A document of one window has no closed windows: its closed state is all zeros, stored as an
  // empty tensor (the file would otherwise be mostly zeros — 4 × state_size bytes per adapter).
  const empty = state.closed.every((v) => v === 0);
  const closed = empty ? new Uint8Array(0) : new Uint8Array(state.closed.buffer, state.closed.byteOffset, state.closed.byteLength);
  const tail = Int32Array.from(state.tail);
  const plan = planSafetensors(
    {
      closed_state: { dtype: 'F32', shape: [closed.byteLength / 4], data: closed },
      tail_ids: { dtype: 'I32', shape: [tail.length], data: new Uint8Array(tail.buffer) },
    },
    {
      format: 'hyperadapt-state',
      'hyperadapt.adapter_id': prov.adapterId,
      'hyperadapt.model_sha256': prov.modelSha256,
      'hyperadapt.context_tokens': String(state.contextTokens),
      'hyperadapt.windows': String(state.windows),
    },
  );
  return { name: STATE_FILE, parts: plan.parts, bytes: plan.bytes };
}

/** Reads a state file back; throws when it is not one, or not of `stateSize`. */
export function readStateFile(bytes: Uint8Array, stateSize: number): ExtensionState {
  const { metadata, tensors } = readSafetensors(bytes);
  const c = tensors.closed_state;
  const t = tensors.tail_ids;
  if (metadata.format !== 'hyperadapt-state' || !c || !t || c.dtype !== 'F32' || t.dtype !== 'I32') throw new Error(`${STATE_FILE} is not a hyperadapt state file`);
  // An empty closed state is the all-zero one (a parent of one window).
  if (c.shape[0] !== stateSize && c.shape[0] !== 0) throw new Error(`${STATE_FILE} holds a state of ${c.shape[0]} values; the model's is ${stateSize}`);
  // Copies: the views of readSafetensors may be unaligned for Float32Array/Int32Array.
  const closed = new Float32Array(stateSize);
  new Uint8Array(closed.buffer).set(c.data);
  const tail = new Int32Array(t.shape[0]!);
  new Uint8Array(tail.buffer).set(t.data);
  return { closed, tail: [...tail], contextTokens: Number(metadata['hyperadapt.context_tokens']), windows: Number(metadata['hyperadapt.windows']) };
}
