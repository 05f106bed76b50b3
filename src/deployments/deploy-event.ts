/**
 * A deployment's outcome, delivered to the webhook of the job that asked for it (events
 * `adapter.deployed` / `adapter.deploy_failed`), through the same outbox as job events: numbered
 * with the job's events (so its webhook-id is stable), filtered by the webhook's `events`.
 */
import type { Redis } from 'ioredis';
import { LuaScript } from '../store/lua-runner.js';
import type { RedisKeys } from '../store/redis-keys.js';
import type { DeploymentView } from './deployments.js';

const emitScript = new LuaScript(`
local hook = redis.call('HGET', KEYS[1], 'webhook')
if not hook or hook == '' then return 0 end
local ok, h = pcall(cjson.decode, hook)
if not ok or type(h) ~= 'table' or type(h.url) ~= 'string' then return 0 end
if type(h.events) == 'table' then
  local wanted = false
  for _, e in ipairs(h.events) do if e == ARGV[3] then wanted = true end end
  if not wanted then return 0 end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local flat = redis.call('HGETALL', KEYS[1])
local rec = {}
for i = 1, #flat, 2 do rec[flat[i]] = flat[i + 1] end
redis.call('XADD', KEYS[2], '*', 't', ARGV[1], 'j', ARGV[2], 'e', ARGV[3], 'q', seq, 'u', h.url, 'r', cjson.encode(rec), 'd', ARGV[4])
return 1
`);

export async function emitDeployEvent(redis: Redis, keys: RedisKeys, tenant: string, jobId: string | undefined, view: DeploymentView): Promise<void> {
  if (!jobId) return;
  const event = view.status === 'loaded' ? 'adapter.deployed' : 'adapter.deploy_failed';
  await emitScript.run(redis, [keys.job(tenant, jobId), keys.webhookOutbox()], [tenant, jobId, event, JSON.stringify(view)]);
}
