/**
 * Splits a long context into the windows a chunked generator reads: token boundaries, whole
 * sentences wherever they fit. Greedy: a window takes sentences while the next one fits, then
 * closes; a sentence longer than a window is cut into full windows and its rest opens the next.
 *
 * The packing is prefix-stable, which is what makes `extends` exact: for a context A followed by
 * B, every window of A but its last is also a window of A + B, and the windows of A + B after them
 * are the windows of (A's last window) + B. So an adapter keeps the summed state of its closed
 * windows and the tokens of its last one, and extending it reads only those tokens and the new
 * ones.
 */

/**
 * @example
 * packWindows(ids, 96, tokenizer.sentenceEnds()); // → [[…≤ 96 ids], [...], …]
 */
export function packWindows(ids: readonly number[], size: number, sentenceEnds: ReadonlySet<number>): number[][] {
  if (!(size >= 1)) throw new RangeError('window size must be ≥ 1');
  const windows: number[][] = [];
  let current: number[] = [];
  const take = (sentence: number[]) => {
    if (current.length + sentence.length <= size) {
      current.push(...sentence);
      return;
    }
    if (current.length > 0) windows.push(current);
    current = [];
    let s = sentence;
    while (s.length > size) {
      windows.push(s.slice(0, size));
      s = s.slice(size);
    }
    current = s;
  };
  let sentence: number[] = [];
  for (const id of ids) {
    sentence.push(id);
    if (sentenceEnds.has(id)) {
      take(sentence);
      sentence = [];
    }
  }
  if (sentence.length > 0) take(sentence);
  if (current.length > 0) windows.push(current);
  return windows;
}
