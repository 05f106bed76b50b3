/** Tenant signing secrets against a real Redis: creation races, rotation and its 24 h overlap. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/store/redis-keys.js';
import { ROTATION_OVERLAP_MS, WebhookSecrets } from '../../src/webhooks/webhook-secrets.js';

const prefix = `test-${randomBytes(6).toString('hex')}`;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const secrets = new WebhookSecrets(redis, new RedisKeys(prefix));

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('WebhookSecrets', () => {
  it('agrees on one secret when first calls race', async () => {
    const got = await Promise.all(Array.from({ length: 10 }, () => secrets.get('racer')));
    expect(new Set(got).size).toBe(1);
    expect(got[0]).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  });

  it('keeps tenants apart', async () => {
    expect(await secrets.get('tenant-a')).not.toBe(await secrets.get('tenant-b'));
  });

  it('signs with the current and the previous secret until 24 h after a rotation, then with the current only', async () => {
    const before = await secrets.get('rotator');
    expect(await secrets.signingSecrets('rotator')).toEqual([before]);
    const rotatedAt = Date.now();
    const after = await secrets.rotate('rotator', rotatedAt);
    expect(after).not.toBe(before);
    expect(await secrets.get('rotator')).toBe(after);
    expect(await secrets.signingSecrets('rotator', rotatedAt + 1000)).toEqual([after, before]);
    expect(await secrets.signingSecrets('rotator', rotatedAt + ROTATION_OVERLAP_MS - 1)).toEqual([after, before]);
    expect(await secrets.signingSecrets('rotator', rotatedAt + ROTATION_OVERLAP_MS)).toEqual([after]);
    // A second rotation drops the oldest: only one previous secret is kept.
    const third = await secrets.rotate('rotator', rotatedAt + 5000);
    expect(await secrets.signingSecrets('rotator', rotatedAt + 6000)).toEqual([third, after]);
  });

  it('rotates a tenant that never had a secret into a first one', async () => {
    const first = await secrets.rotate('newcomer');
    expect(await secrets.signingSecrets('newcomer')).toEqual([first]);
  });
});
