/**
 * The Standard Webhooks retry schedule: after the first attempt fails, retry after 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h, then give up (ten attempts in all). Each delay
 * is multiplied by WEBHOOK_RETRY_SCALE (tests run the schedule in milliseconds) and jittered by
 * ±20 % so receivers that fail together are not retried together.
 */

const S = 1000;
const M = 60 * S;
const H = 60 * M;

export const RETRY_SCHEDULE_MS: readonly number[] = [5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 14 * H, 20 * H, 24 * H];
/** The first attempt plus one per step of the schedule. */
export const MAX_DELIVERY_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;
/** A receiver's Retry-After is honoured up to this long. */
const MAX_RETRY_AFTER_MS = 24 * H;
const JITTER = 0.2;

/**
 * Parses `Retry-After` (delta-seconds or an HTTP date) into milliseconds from `now`.
 *
 * @example
 * parseRetryAfter('120'); // 120000
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')); // 60000
 */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  // An HTTP date names its weekday or month; Date.parse alone would read '-5' as a year.
  if (!/[a-z]{3}/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * How long to wait after attempt `failedAttempt` (1-based) failed, or undefined when that was
 * the last attempt. A receiver's Retry-After wins when it asks for longer than the schedule.
 *
 * @example
 * retryDelayMs(1, 1);              // about 5000 (4000…6000)
 * retryDelayMs(1, 0.001, 2000);    // 2000: Retry-After is never scaled down
 * retryDelayMs(10, 1);             // undefined: give up
 */
export function retryDelayMs(failedAttempt: number, scale: number, retryAfterMs?: number, random: () => number = Math.random): number | undefined {
  const base = RETRY_SCHEDULE_MS[failedAttempt - 1];
  if (base === undefined) return undefined;
  const jittered = base * scale * (1 - JITTER + 2 * JITTER * random());
  const asked = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  return Math.max(1, Math.round(Math.max(jittered, asked)));
}
