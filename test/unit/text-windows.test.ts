/**
 * packWindows: windows cover the context exactly, never exceed the size, keep sentences whole
 * where they fit — and are prefix-stable, which `extends` relies on: packing A + B equals A's
 * closed windows followed by packing (A's last window + B), for every split point.
 */
import { packWindows } from '../../src/conditioning/text-windows.js';

const END = 99;
const ends = new Set([END]);

function stream(seed: number, n: number): number[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  // Sentences of 1–30 tokens (some longer than a window of 12), ending with END, sometimes not.
  const ids: number[] = [];
  while (ids.length < n) {
    const len = 1 + Math.floor(rnd() * 30);
    for (let i = 0; i < len; i++) ids.push(1 + Math.floor(rnd() * 50));
    if (rnd() < 0.9) ids.push(END);
  }
  return ids.slice(0, n);
}

describe('packWindows', () => {
  it('covers the context in order, each window at most the size, sentences whole where they fit', () => {
    const ids = [1, 2, END, 3, 4, 5, END, 6, END, ...Array.from({ length: 9 }, (_, i) => 10 + i), END];
    expect(packWindows(ids, 6, ends)).toEqual([[1, 2, END], [3, 4, 5, END, 6, END], [10, 11, 12, 13, 14, 15], [16, 17, 18, END]]);
    for (let seed = 1; seed < 40; seed++) {
      const s = stream(seed, 200);
      const w = packWindows(s, 12, ends);
      expect(w.flat()).toEqual(s);
      expect(w.every((x) => x.length >= 1 && x.length <= 12)).toBe(true);
    }
    expect(packWindows([], 8, ends)).toEqual([]);
  });

  it('is prefix-stable: A + B = A\'s closed windows + pack(A\'s last window + B), at every split', () => {
    for (let seed = 1; seed < 25; seed++) {
      const s = stream(seed, 120);
      const whole = packWindows(s, 12, ends);
      for (let k = 1; k < s.length; k++) {
        const a = packWindows(s.slice(0, k), 12, ends);
        const rest = packWindows([...a[a.length - 1]!, ...s.slice(k)], 12, ends);
        expect([...a.slice(0, -1), ...rest]).toEqual(whole);
      }
    }
  });
});
