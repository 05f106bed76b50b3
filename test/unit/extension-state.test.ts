/**
 * The extension state file: what `extends` reads back is what was written, and a state with no
 * closed window (all zeros) is stored as an empty tensor, not state_size zeros.
 */
import { planStateFile, readStateFile, type ExtensionState } from '../../src/adapters/extension-state.js';

const prov = { adapterId: 'ad_test', modelSha256: 'f'.repeat(64) };
const bytesOf = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.byteLength));
  return out;
};

it('round-trips a state with closed windows', () => {
  const state: ExtensionState = { closed: Float32Array.from({ length: 64 }, (_, i) => (i % 7) - 3.5), tail: [5, 9, 2], contextTokens: 300, windows: 4 };
  const file = planStateFile(state, prov);
  expect(file.bytes).toBeGreaterThan(64 * 4);
  expect(readStateFile(bytesOf(file.parts), 64)).toEqual(state);
});

it('stores an all-zero closed state as an empty tensor and reads it back as zeros', () => {
  const state: ExtensionState = { closed: new Float32Array(4096), tail: [5, 9, 2], contextTokens: 3, windows: 1 };
  const file = planStateFile(state, prov);
  expect(file.bytes).toBeLessThan(1024);
  const back = readStateFile(bytesOf(file.parts), 4096);
  expect(back.closed).toEqual(new Float32Array(4096));
  expect(back).toMatchObject({ tail: [5, 9, 2], contextTokens: 3, windows: 1 });
});

it('refuses a state of another size', () => {
  const file = planStateFile({ closed: Float32Array.from([1, 2, 3]), tail: [1], contextTokens: 1, windows: 2 }, prov);
  expect(() => readStateFile(bytesOf(file.parts), 4)).toThrow(/holds a state of 3 values; the model's is 4/);
});
