/**
 * The Lua scripts that move job records. Each runs atomically in Redis, which is what makes
 * "identical concurrent requests share one computation" race-free: joining a computation,
 * starting it, finishing it and cancelling a job can never interleave.
 *
 * Job keys are built inside the scripts from a prefix passed in ARGV (a computation's waiters
 * are only known there), so these scripts assume a single Redis, not a Redis Cluster.
 */

/**
 * Every state change of a job goes through announce(), inside the script that makes it, so a
 * change and its notifications cannot be separated by a crash:
 * - it numbers the job's events (field `seq`), which lets an event stream drop duplicates;
 * - it publishes the event with a snapshot of the record (live listeners: Prefer: wait, SSE) —
 *   except at creation, when the id is not yet known to anyone who could listen (a listener
 *   reads the current state when it subscribes), which spares every API process a message per
 *   request, cache hits included;
 * - when the job's webhook subscribes to the event, it appends it to the webhook outbox stream,
 *   from which the webhook worker's dispatcher enqueues deliveries (durable, at-least-once).
 * Without `events` a webhook gets the terminal events.
 */
const PUBLISH = `
local TERMINAL_EVENTS = {['job.succeeded'] = true, ['job.failed'] = true, ['job.canceled'] = true}
local function announce(channel, outbox, tenant, id, jobKey, event, quiet)
  -- The tenant's active (queued or running) jobs, for MAX_ACTIVE_JOBS: <prefix>:t:<tenant>:active.
  local activeKey = string.gsub(jobKey, ':job:[^:]*$', ':active')
  if event == 'job.queued' then
    redis.call('ZADD', activeKey, redis.call('TIME')[1], id)
  elseif TERMINAL_EVENTS[event] then
    redis.call('ZREM', activeKey, id)
  end
  local seq = redis.call('HINCRBY', jobKey, 'seq', 1)
  local flat = redis.call('HGETALL', jobKey)
  local rec = {}
  for i = 1, #flat, 2 do rec[flat[i]] = flat[i + 1] end
  -- The record is encoded once and spliced into the message (not encoded a second time).
  local snapshot = cjson.encode(rec)
  if not quiet then redis.call('PUBLISH', channel, '{"t":' .. cjson.encode(tenant) .. ',"j":' .. cjson.encode(id) .. ',"s":' .. cjson.encode(rec.status or '') ..
    ',"e":' .. cjson.encode(event) .. ',"q":' .. seq .. ',"r":' .. snapshot .. '}') end
  if not rec.webhook or rec.webhook == '' then return end
  local ok, hook = pcall(cjson.decode, rec.webhook)
  if not ok or type(hook) ~= 'table' or type(hook.url) ~= 'string' then return end
  local wanted = TERMINAL_EVENTS[event] == true
  if type(hook.events) == 'table' then
    wanted = false
    for _, e in ipairs(hook.events) do if e == event then wanted = true end end
  end
  if wanted then
    redis.call('XADD', outbox, '*', 't', tenant, 'j', id, 'e', event, 'q', seq, 'u', hook.url, 'r', snapshot)
  end
end
`;

/** KEYS: adapter, job, jobs, computation, idempotency, webhook outbox. ARGV: see JobStore.create. */
export const CREATE_JOB = `${PUBLISH}
local jobId, now, nowMs, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local idemHash, idemTtl, newComp, waitPrefix = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local adapterId, fieldsJson, channel, tenant = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
if idemHash ~= '' then
  local prev = redis.call('GET', KEYS[5])
  if prev then
    local p = cjson.decode(prev)
    if p.h ~= idemHash then return {'conflict', p.j} end
    if redis.call('EXISTS', p.k) == 1 then return {'existing', p.j, redis.call('HGETALL', p.k)} end
  end
end
local fields = cjson.decode(fieldsJson)
local result
local cached = redis.call('EXISTS', KEYS[1]) == 1
local maxActive = tonumber(ARGV[13] or '0')
if not cached and maxActive > 0 then
  local activeKey = string.gsub(KEYS[2], ':job:[^:]*$', ':active')
  -- Records expire after the retention period; so do their places here.
  redis.call('ZREMRANGEBYSCORE', activeKey, '-inf', '(' .. (math.floor(nowMs / 1000) - retention))
  if redis.call('ZCARD', activeKey) >= maxActive then return {'limited', tostring(maxActive)} end
end
if cached then
  fields.status = 'succeeded'; fields.cached = '1'; fields.progress = '1'
  fields.adapter_id = adapterId; fields.started_at = now; fields.finished_at = now
  result = {'cached', jobId}
else
  local comp = redis.call('GET', KEYS[4])
  local created = '0'
  if not comp then comp = newComp; redis.call('SET', KEYS[4], comp); created = '1' end
  fields.status = 'queued'; fields.computation = comp
  redis.call('SADD', waitPrefix .. comp, jobId)
  result = {'queued', jobId, comp, created}
end
local flat = {}
for k, v in pairs(fields) do flat[#flat + 1] = k; flat[#flat + 1] = v end
redis.call('HSET', KEYS[2], unpack(flat))
redis.call('EXPIRE', KEYS[2], retention)
redis.call('ZADD', KEYS[3], nowMs, jobId)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (nowMs - retention * 1000))
if idemHash ~= '' then
  redis.call('SET', KEYS[5], cjson.encode({h = idemHash, j = jobId, k = KEYS[2]}), 'EX', idemTtl)
end
announce(channel, KEYS[6], tenant, jobId, KEYS[2], fields.status == 'succeeded' and 'job.succeeded' or 'job.queued', true)
table.insert(result, redis.call('HGETALL', KEYS[2]))
return result
`;

/**
 * Starts several computations in one round trip (a worker coalesces the jobs it took in the
 * same tick). KEYS: webhook outbox, then per computation: waiters, computation.
 * ARGV: now, channel, then per computation: jobPrefix, computationId, tenant.
 * Returns, per computation, the job ids still waiting for it.
 */
export const START_COMPUTATIONS = `${PUBLISH}
local now, channel = ARGV[1], ARGV[2]
local out = {}
for c = 0, (#KEYS - 1) / 2 - 1 do
  local waiters, compKey = KEYS[2 + 2 * c], KEYS[3 + 2 * c]
  local prefix, comp, tenant = ARGV[3 + 3 * c], ARGV[4 + 3 * c], ARGV[5 + 3 * c]
  local live = {}
  for _, id in ipairs(redis.call('SMEMBERS', waiters)) do
    local k = prefix .. id
    local st = redis.call('HGET', k, 'status')
    if st == 'queued' then
      redis.call('HSET', k, 'status', 'running', 'started_at', now)
      announce(channel, KEYS[1], tenant, id, k, 'job.started')
      table.insert(live, id)
    elseif st == 'running' then
      table.insert(live, id)
    else
      redis.call('SREM', waiters, id)
    end
  end
  if #live == 0 then
    if redis.call('GET', compKey) == comp then redis.call('DEL', compKey) end
    redis.call('DEL', waiters)
  end
  out[c + 1] = live
end
return out
`;

/**
 * Ends several computations in one round trip — a whole batch once its files are durable.
 * KEYS: webhook outbox, then per computation: adapter, adapters, waiters, computation.
 * ARGV: now, nowMs, channel, then per computation: jobPrefix, computationId, tenant, outcome
 * ('succeeded'|'failed'), adapterId, adapterRecordJson, errorJson.
 * Returns, per computation, the job ids it ended.
 */
export const FINISH_COMPUTATIONS = `${PUBLISH}
local now, nowMs, channel = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for c = 0, (#KEYS - 1) / 4 - 1 do
  local adapterKey, adaptersKey, waiters, compKey = KEYS[2 + 4 * c], KEYS[3 + 4 * c], KEYS[4 + 4 * c], KEYS[5 + 4 * c]
  local a = 4 + 7 * c
  local prefix, comp, tenant, outcome, adapterId, record, err = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  if outcome == 'succeeded' and redis.call('EXISTS', adapterKey) == 0 then
    redis.call('HSET', adapterKey, 'record', record, 'created_ms', nowMs)
    redis.call('ZADD', adaptersKey, nowMs, adapterId)
  end
  local done = {}
  for _, id in ipairs(redis.call('SMEMBERS', waiters)) do
    local k = prefix .. id
    local st = redis.call('HGET', k, 'status')
    if st == 'queued' or st == 'running' then
      if st == 'queued' then redis.call('HSET', k, 'started_at', now) end
      if outcome == 'succeeded' then
        redis.call('HSET', k, 'status', 'succeeded', 'adapter_id', adapterId, 'progress', '1', 'finished_at', now)
      else
        redis.call('HSET', k, 'status', 'failed', 'error', err, 'finished_at', now)
      end
      announce(channel, KEYS[1], tenant, id, k, 'job.' .. outcome)
      table.insert(done, id)
    end
  end
  redis.call('DEL', waiters)
  if redis.call('GET', compKey) == comp then redis.call('DEL', compKey) end
  out[c + 1] = done
end
return out
`;

/** KEYS: job, webhook outbox. ARGV: now, waitersPrefix, channel, tenant, jobId. */
export const CANCEL_JOB = `${PUBLISH}
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing'} end
if st ~= 'queued' and st ~= 'running' then return {'conflict', st} end
redis.call('HSET', KEYS[1], 'status', 'canceled', 'finished_at', ARGV[1])
local comp = redis.call('HGET', KEYS[1], 'computation')
if comp then redis.call('SREM', ARGV[2] .. comp, ARGV[5]) end
announce(ARGV[3], KEYS[2], ARGV[4], ARGV[5], KEYS[1], 'job.canceled')
return {'canceled'}
`;

/** KEYS: adapter, adapters. ARGV: adapterId. Returns the record JSON it removed, or false. */
export const DELETE_ADAPTER = `
local rec = redis.call('HGET', KEYS[1], 'record')
if not rec then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return rec
`;
