import { randomHex } from '../../src/store/random-hex.js';
import { newJobId, JOB_ID_PATTERN } from '../../src/store/job-store.js';

describe('randomHex (pooled ids)', () => {
  it('gives hex of the asked length, never repeating, across many pool refills', () => {
    const seen = new Set<string>();
    // 4 KiB pool: 3,000 × 20 bytes refills it ~15 times, and 12 + 20 does not divide 4096,
    // so ids also straddle the refill boundary (a stale or re-used byte range would repeat).
    for (let i = 0; i < 3000; i++) {
      const a = randomHex(20);
      const b = randomHex(12);
      expect(a).toMatch(/^[0-9a-f]{40}$/);
      expect(b).toMatch(/^[0-9a-f]{24}$/);
      seen.add(a).add(b);
    }
    expect(seen.size).toBe(6000);
  });

  it('serves job ids in their documented shape', () => {
    const ids = new Set(Array.from({ length: 500 }, () => newJobId()));
    expect(ids.size).toBe(500);
    for (const id of ids) expect(id).toMatch(JOB_ID_PATTERN);
  });

  it('refuses more bytes than the pool holds', () => {
    expect(() => randomHex(5000)).toThrow(RangeError);
  });
});
