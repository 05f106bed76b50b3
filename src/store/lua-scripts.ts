/**
 * The Lua scripts that move job records. Each runs atomically in Redis, which is what makes
 * "identical concurrent requests share one computation" race-free: joining a computation,
 * starting it, finishing it and cancelling a job can never interleave.
 *
 * Job keys are built inside the scripts from a prefix passed in ARGV (a computation's waiters
 * are only known there), so these scripts assume a single Redis, not a Redis Cluster.
 */
import { ADAPTER_LUA } from './adapter-scripts.js';

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
local STATUS_OF = {['job.queued'] = 'queued', ['job.started'] = 'running', ['job.succeeded'] = 'succeeded', ['job.failed'] = 'failed', ['job.canceled'] = 'canceled'}
local JOB_STATUSES = {'queued', 'running', 'succeeded', 'failed', 'canceled'}
-- \`known\` (creation only): the whole record just written and its creation score, so the
-- record is not read back and is encoded only when a webhook wants the event.
local function announce(channel, outbox, tenant, id, jobKey, event, quiet, known, createdMs)
  local base = string.gsub(jobKey, ':job:[^:]*$', '')
  -- The tenant's active (queued or running) jobs, for MAX_ACTIVE_JOBS: <prefix>:t:<tenant>:active.
  local activeKey = base .. ':active'
  if event == 'job.queued' then
    redis.call('ZADD', activeKey, redis.call('TIME')[1], id)
  elseif TERMINAL_EVENTS[event] then
    redis.call('ZREM', activeKey, id)
  end
  -- The status index (jobs:s:<status>, scored by creation time) follows every status change.
  local status = STATUS_OF[event]
  if status then
    local created = createdMs or redis.call('ZSCORE', base .. ':jobs', id)
    if not quiet then
      if status ~= 'queued' then redis.call('ZREM', base .. ':jobs:s:queued', id) end
      if status ~= 'queued' and status ~= 'running' then redis.call('ZREM', base .. ':jobs:s:running', id) end
    end
    if created then redis.call('ZADD', base .. ':jobs:s:' .. status, created, id) end
  end
  local seq = redis.call('HINCRBY', jobKey, 'seq', 1)
  local rec = known
  if rec then
    rec.seq = tostring(seq)
  else
    rec = {}
    local flat = redis.call('HGETALL', jobKey)
    for i = 1, #flat, 2 do rec[flat[i]] = flat[i + 1] end
  end
  -- The record is encoded once and spliced into the message (not encoded a second time).
  local snapshot
  if not quiet then
    snapshot = cjson.encode(rec)
    redis.call('PUBLISH', channel, '{"t":' .. cjson.encode(tenant) .. ',"j":' .. cjson.encode(id) .. ',"s":' .. cjson.encode(rec.status or '') ..
      ',"e":' .. cjson.encode(event) .. ',"q":' .. seq .. ',"r":' .. snapshot .. '}')
  end
  if not rec.webhook or rec.webhook == '' then return end
  snapshot = snapshot or cjson.encode(rec)
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

/**
 * KEYS: adapter, job, jobs, computation, idempotency, webhook outbox. ARGV: see JobStore.create.
 * A live adapter is a cache hit and counts as a use; an expired one is dropped from the index
 * here (its files stay, to be rewritten by the regeneration this request starts). A miss is
 * refused ('insufficient') when the tenant's pinned bytes leave no room for the new adapter.
 */
export const CREATE_JOB = `${PUBLISH}${ADAPTER_LUA}
local jobId, now, nowMs, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local idemHash, idemTtl, newComp, waitPrefix = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local adapterId, fieldsJson, channel, tenant = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local maxActive, ttlMs, quota, estimate = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])
local cachedRetention, maxJobs, tp, goneTtl = tonumber(ARGV[17]), tonumber(ARGV[18]), ARGV[19], tonumber(ARGV[20])
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
local a = redis.call('HMGET', KEYS[1], 'created_ms', 'used_ms', 'pinned')
local cached = a[1] ~= false or a[2] ~= false
if cached and is_expired(a[2], a[1], a[3], ttlMs, nowMs) then
  drop_adapter(tp, adapterId, 'expired', nowMs, goneTtl, 0)
  cached = false
end
if not cached and maxActive > 0 then
  local activeKey = tp .. 'active'
  -- Records expire after the retention period; so do their places here.
  redis.call('ZREMRANGEBYSCORE', activeKey, '-inf', '(' .. (math.floor(nowMs / 1000) - retention))
  if redis.call('ZCARD', activeKey) >= maxActive then return {'limited', tostring(maxActive)} end
end
if not cached and quota > 0 and redis.call('EXISTS', KEYS[4]) == 0 then
  local pinned = tonumber(redis.call('HGET', tp .. 'usage', 'pinned_bytes') or '0')
  if pinned + estimate > quota then return {'insufficient', storage_message(tp, tenant, estimate, quota)} end
end
if cached then
  fields.status = 'succeeded'; fields.cached = '1'; fields.progress = '1'
  fields.adapter_id = adapterId; fields.started_at = now; fields.finished_at = now
  redis.call('HSET', KEYS[1], 'used_ms', nowMs)
  if a[3] ~= '1' then redis.call('ZADD', tp .. 'lru', nowMs, adapterId) end
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
redis.call('EXPIRE', KEYS[2], cached and cachedRetention or retention)
redis.call('ZADD', KEYS[3], nowMs, jobId)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (nowMs - retention * 1000))
redis.call('ZREMRANGEBYSCORE', KEYS[3] .. ':s:' .. fields.status, '-inf', '(' .. (nowMs - retention * 1000))
if maxJobs > 0 then
  -- Bounded by count too: the oldest ended records go (a few per request, never an active one).
  local jobPrefix = string.sub(KEYS[2], 1, #KEYS[2] - #jobId)
  local excess = redis.call('ZCARD', KEYS[3]) - maxJobs
  while excess > 0 do
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
    local st = redis.call('HGET', jobPrefix .. oldest, 'status')
    if st == 'queued' or st == 'running' or oldest == jobId then break end
    redis.call('DEL', jobPrefix .. oldest)
    redis.call('ZREM', KEYS[3], oldest)
    for _, s in ipairs(JOB_STATUSES) do redis.call('ZREM', KEYS[3] .. ':s:' .. s, oldest) end
    excess = excess - 1
  end
end
if idemHash ~= '' then
  redis.call('SET', KEYS[5], cjson.encode({h = idemHash, j = jobId, k = KEYS[2]}), 'EX', idemTtl)
end
-- The job key is new, so what was written (and announce's seq) is the whole record.
announce(channel, KEYS[6], tenant, jobId, KEYS[2], fields.status == 'succeeded' and 'job.succeeded' or 'job.queued', true, fields, nowMs)
flat[#flat + 1] = 'seq'; flat[#flat + 1] = fields.seq
table.insert(result, flat)
return result
`;

/**
 * A computation that ends leaves the fair scheduler's flight (src/scheduling/fair-scripts.ts):
 * its place and its tenant's in-flight count are freed for the next one.
 */
const FAIR_RELEASE_LUA = `
local function fair_release(fp, tenant, comp)
  if fp == '' then return end
  if redis.call('ZREM', fp .. 'inflight', tenant .. ' ' .. comp) == 1 then redis.call('HINCRBY', fp .. 'count', tenant, -1) end
end
`;

/**
 * Starts several computations in one round trip (a worker coalesces the jobs it took in the
 * same tick). KEYS: webhook outbox, then per computation: waiters, computation, removing marker.
 * ARGV: now, channel, fairPrefix, then per computation: jobPrefix, computationId, tenant.
 * Returns, per computation, '1' when the adapter's old files are still being removed (the
 * worker waits before writing) else '0', followed by the job ids still waiting for it. A
 * computation nobody waits for any more ends here (and leaves the fair scheduler's flight).
 */
export const START_COMPUTATIONS = `${PUBLISH}${FAIR_RELEASE_LUA}
local now, channel, fp = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for c = 0, (#KEYS - 1) / 3 - 1 do
  local waiters, compKey, marker = KEYS[2 + 3 * c], KEYS[3 + 3 * c], KEYS[4 + 3 * c]
  local prefix, comp, tenant = ARGV[4 + 3 * c], ARGV[5 + 3 * c], ARGV[6 + 3 * c]
  local live = {redis.call('EXISTS', marker) == 1 and '1' or '0'}
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
  if #live == 1 then
    if redis.call('GET', compKey) == comp then redis.call('DEL', compKey) end
    redis.call('DEL', waiters)
    fair_release(fp, tenant, comp)
  end
  out[c + 1] = live
end
return out
`;

/**
 * Ends several computations in one round trip — a whole batch once its files are durable.
 * Storing an adapter is where the quota is kept: the tenant's least recently used unpinned,
 * unleased adapters are evicted (index entries removed, markers set: their files are the
 * caller's to delete) until the new one fits; when even that cannot make room, the computation
 * fails with insufficient_storage and its own files are marked for removal.
 * KEYS: webhook outbox, then per computation: adapter, adapters, waiters, computation.
 * ARGV: now, nowMs, channel, tenantsKey, goneTtl, markerMs, fairPrefix, then per computation: jobPrefix,
 * computationId, tenant, outcome ('succeeded'|'failed'), adapterId, adapterRecordJson, errorJson,
 * tenantPrefix, bytes, model, quota.
 * Returns, per computation, {ended job ids, evicted ids, '1' when refused for lack of storage,
 * the deployments its succeeded jobs asked for: job id, deploy JSON, …}.
 */
export const FINISH_COMPUTATIONS = `${PUBLISH}${ADAPTER_LUA}${FAIR_RELEASE_LUA}
local now, nowMs, channel, tenantsKey, goneTtl, markerMs, fp = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local out = {}
for c = 0, (#KEYS - 1) / 4 - 1 do
  local adapterKey, adaptersKey, waiters, compKey = KEYS[2 + 4 * c], KEYS[3 + 4 * c], KEYS[4 + 4 * c], KEYS[5 + 4 * c]
  local a = 8 + 11 * c
  local prefix, comp, tenant, outcome, adapterId, record, err = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local tp, bytes, model, quota = ARGV[a + 7], tonumber(ARGV[a + 8]), ARGV[a + 9], tonumber(ARGV[a + 10])
  local evicted, refused, deploys = {}, '0', {}
  if outcome == 'succeeded' and redis.call('EXISTS', adapterKey) == 0 then
    local plan = {}
    if quota > 0 then plan = plan_eviction(tp, bytes, quota, nowMs) end
    if plan then
      for _, id in ipairs(plan) do
        if drop_adapter(tp, id, 'evicted', nowMs, goneTtl, markerMs) then evicted[#evicted + 1] = id end
      end
      add_adapter(tp, adapterId, record, model, bytes, nowMs, tenantsKey, tenant)
    else
      outcome = 'failed'
      err = cjson.encode({code = 'insufficient_storage', message = storage_message(tp, tenant, bytes, quota)})
      redis.call('SET', tp .. 'removing:' .. adapterId, '1', 'PX', markerMs)
      refused = '1'
    end
  end
  local done = {}
  for _, id in ipairs(redis.call('SMEMBERS', waiters)) do
    local k = prefix .. id
    local st = redis.call('HGET', k, 'status')
    if st == 'queued' or st == 'running' then
      if st == 'queued' then redis.call('HSET', k, 'started_at', now) end
      if outcome == 'succeeded' then
        redis.call('HSET', k, 'status', 'succeeded', 'adapter_id', adapterId, 'progress', '1', 'finished_at', now)
        local deploy = redis.call('HGET', k, 'deploy')
        if deploy then deploys[#deploys + 1] = id; deploys[#deploys + 1] = deploy end
      else
        redis.call('HSET', k, 'status', 'failed', 'error', err, 'finished_at', now)
      end
      announce(channel, KEYS[1], tenant, id, k, 'job.' .. outcome)
      table.insert(done, id)
    end
  end
  redis.call('DEL', waiters)
  if redis.call('GET', compKey) == comp then redis.call('DEL', compKey) end
  fair_release(fp, tenant, comp)
  out[c + 1] = {done, evicted, refused, deploys}
end
return out
`;

/** KEYS: job, webhook outbox. ARGV: now, waitersPrefix, channel, tenant, jobId. */
/**
 * A computation's progress (chunked models: windows read): every running job waiting for it
 * gets the fraction and a job.progress event. Returns how many are still running — none means
 * all were canceled, and the worker stops reading windows.
 * KEYS: webhook outbox, waiters. ARGV: channel, jobPrefix, tenant, progress.
 */
export const PROGRESS_COMPUTATION = `${PUBLISH}
local live = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local k = ARGV[2] .. id
  if redis.call('HGET', k, 'status') == 'running' then
    redis.call('HSET', k, 'progress', ARGV[4])
    announce(ARGV[1], KEYS[1], ARGV[3], id, k, 'job.progress')
    live = live + 1
  end
end
return live
`;

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

