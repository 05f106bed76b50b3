import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('config', () => {
  it('has the documented defaults and is frozen', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.executionProviders).toEqual(['cpu']);
    expect(c.webhookRetryScale).toBe(1);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('parses values', () => {
    const c = loadConfig({ PORT: '9000', EXECUTION_PROVIDERS: 'cuda, cpu', WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_SCALE: '0.001' });
    expect(c.port).toBe(9000);
    expect(c.executionProviders).toEqual(['cuda', 'cpu']);
    expect(c.webhookAllowPrivate).toBe(true);
    expect(c.webhookRetryScale).toBe(0.001);
  });

  it.each([
    ['PORT', 'abc', /PORT: must be a whole number/],
    ['PORT', '70000', /PORT: must be at most 65535/],
    ['REDIS_URL', 'http://x', /REDIS_URL: must be a redis/],
    ['EXECUTION_PROVIDERS', 'gpu', /EXECUTION_PROVIDERS\.0: each must be one of/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['WEBHOOK_ALLOW_PRIVATE', 'maybe', /WEBHOOK_ALLOW_PRIVATE/],
    ['INFERENCE_THREADS', '0', /INFERENCE_THREADS: must be at least 1/],
  ])('stops on %s=%s with a message naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('names every wrong variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT[\s\S]*LOG_LEVEL|LOG_LEVEL[\s\S]*PORT/);
  });

  it('parses the webhook and event-stream settings, with their defaults', () => {
    const d = loadConfig({});
    expect([d.webhookTimeoutMs, d.webhookConcurrency, d.webhookClaimIdleMs, d.eventsHeartbeatMs]).toEqual([15000, 16, 60000, 15000]);
    expect(d.webhookAllowHosts).toEqual([]);
    const c = loadConfig({ WEBHOOK_TIMEOUT_MS: '250', WEBHOOK_ALLOW_HOSTS: 'a.test, *.svc.test', EVENTS_HEARTBEAT_MS: '50' });
    expect([c.webhookTimeoutMs, c.eventsHeartbeatMs]).toEqual([250, 50]);
    expect(c.webhookAllowHosts).toEqual(['a.test', '*.svc.test']);
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: '0' })).toThrow(/WEBHOOK_TIMEOUT_MS: must be at least 1/);
    expect(() => loadConfig({ WEBHOOK_RETRY_SCALE: '0' })).toThrow(/WEBHOOK_RETRY_SCALE/);
  });
});
