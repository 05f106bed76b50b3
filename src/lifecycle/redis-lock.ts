/**
 * A lease-style lock in Redis (SET NX PX with a random token; renew and release only by the
 * holder, checked in Lua). Whoever dies holding it loses it after `ttlMs`; the holder renews it
 * while it works, so a long run keeps it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript } from '../store/lua-runner.js';

const renewIfHeld = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`);
const releaseIfHeld = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export interface RedisLockOptions {
  redis: Redis;
  key: string;
  ttlMs: number;
}

/**
 * @example
 * const ran = await new RedisLock({ redis, key: 'app:gc:lock', ttlMs: 30000 }).run(() => sweep());
 * // undefined when another process held the lock
 */
export class RedisLock {
  constructor(private readonly options: RedisLockOptions) {}

  /** Runs `fn` holding the lock, or returns undefined at once when someone else holds it. */
  async run<T>(fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    const { redis, key, ttlMs } = this.options;
    const token = randomBytes(16).toString('hex');
    if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
    const renew = setInterval(() => void renewIfHeld.run(redis, [key], [token, ttlMs]).catch(() => undefined), Math.max(50, ttlMs / 3));
    renew.unref();
    try {
      return { value: await fn() };
    } finally {
      clearInterval(renew);
      await releaseIfHeld.run(redis, [key], [token]).catch(() => undefined);
    }
  }
}
