/** The Standard Webhooks retry schedule, its scale, jitter and Retry-After. */
import { MAX_DELIVERY_ATTEMPTS, RETRY_SCHEDULE_MS, parseRetryAfter, retryDelayMs } from '../../src/webhooks/retry-schedule.js';

const mid = () => 0.5;

describe('retryDelayMs', () => {
  it('follows 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, then gives up', () => {
    const hours = (h: number) => h * 3600 * 1000;
    expect(RETRY_SCHEDULE_MS).toEqual([5000, 300000, 1800000, hours(2), hours(5), hours(10), hours(14), hours(20), hours(24)]);
    expect(MAX_DELIVERY_ATTEMPTS).toBe(10);
    for (let attempt = 1; attempt <= 9; attempt++) expect(retryDelayMs(attempt, 1, undefined, mid)).toBe(RETRY_SCHEDULE_MS[attempt - 1]);
    expect(retryDelayMs(10, 1, undefined, mid)).toBeUndefined();
  });

  it('scales the schedule (tests run it in milliseconds)', () => {
    expect(retryDelayMs(1, 0.001, undefined, mid)).toBe(5);
    expect(retryDelayMs(2, 0.001, undefined, mid)).toBe(300);
    expect(retryDelayMs(1, 0.00001, undefined, mid)).toBe(1); // never zero
  });

  it('jitters by at most 20 % either way', () => {
    expect(retryDelayMs(2, 1, undefined, () => 0)).toBe(240000);
    expect(retryDelayMs(2, 1, undefined, () => 0.999999)).toBeCloseTo(360000, -1);
    const seen = new Set(Array.from({ length: 50 }, () => retryDelayMs(3, 1)));
    expect(seen.size).toBeGreaterThan(1);
    for (const d of seen) {
      expect(d).toBeGreaterThanOrEqual(1800000 * 0.8);
      expect(d).toBeLessThanOrEqual(1800000 * 1.2);
    }
  });

  it('honours a longer Retry-After, unscaled, capped at 24 h; a shorter one does not shorten the schedule', () => {
    expect(retryDelayMs(1, 0.001, 2000, mid)).toBe(2000);
    expect(retryDelayMs(2, 1, 1000, mid)).toBe(300000);
    expect(retryDelayMs(1, 1, 10 * 24 * 3600 * 1000, mid)).toBe(24 * 3600 * 1000);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('120')).toBe(120000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('Wed, 21 Oct 2015 07:27:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(60000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('-5')).toBeUndefined();
  });
});
