/**
 * Each tenant's webhook signing secret: `whsec_` + base64 of 32 bytes from the CSPRNG, created
 * on first use. A rotation keeps the previous secret for an overlap window (24 h) during which
 * deliveries are signed with both, so receivers can switch secrets without dropping events.
 * Secrets are returned to their tenant and to the signer only; nothing here logs them.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript } from '../store/lua-runner.js';
import type { RedisKeys } from '../store/redis-keys.js';

/** KEYS: secret hash. ARGV: new secret, now (ms). Moves current to previous atomically. */
const ROTATE = new LuaScript(`
local cur = redis.call('HGET', KEYS[1], 'current')
if cur then redis.call('HSET', KEYS[1], 'previous', cur, 'rotated_ms', ARGV[2]) end
redis.call('HSET', KEYS[1], 'current', ARGV[1])
return ARGV[1]
`);

export const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

/**
 * A fresh secret from the CSPRNG, in the `whsec_<base64>` form Standard Webhooks libraries read.
 *
 * @example
 * newWebhookSecret(); // 'whsec_3q2+7w…=' (32 random bytes)
 */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export class WebhookSecrets {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly overlapMs = ROTATION_OVERLAP_MS,
  ) {}

  /**
   * The tenant's current secret, created on first use (HSETNX: two racing first calls agree).
   *
   * @example
   * const secret = await secrets.get('acme'); // 'whsec_…'
   */
  async get(tenant: string): Promise<string> {
    const key = this.keys.webhookSecret(tenant);
    await this.redis.hsetnx(key, 'current', newWebhookSecret());
    const current = await this.redis.hget(key, 'current');
    if (!current) throw new Error('webhook secret vanished right after it was created');
    return current;
  }

  /**
   * Replaces the current secret; the old one keeps signing for the overlap window.
   *
   * @example
   * const fresh = await secrets.rotate('acme');
   */
  async rotate(tenant: string, now = Date.now()): Promise<string> {
    return (await ROTATE.run(this.redis, [this.keys.webhookSecret(tenant)], [newWebhookSecret(), now])) as string;
  }

  /**
   * The secrets a delivery at `now` is signed with: the current one, plus the previous one
   * within the overlap window after a rotation.
   *
   * @example
   * const [current, previous] = await secrets.signingSecrets('acme');
   */
  async signingSecrets(tenant: string, now = Date.now()): Promise<string[]> {
    const current = await this.get(tenant);
    const [previous, rotated] = await this.redis.hmget(this.keys.webhookSecret(tenant), 'previous', 'rotated_ms');
    if (previous && rotated && now - Number(rotated) < this.overlapMs) return [current, previous];
    return [current];
  }
}
