/**
 * Fair scheduling across tenants, in Lua. The BullMQ generate queue stays a short FIFO: at most
 * SCHEDULER_DEPTH computations are in it (waiting or active) at once. While there is room and no
 * tenant has work waiting, a new computation goes straight in (no added latency); otherwise it
 * waits in its tenant's own list, and dispatchers (in the worker processes) move computations
 * into BullMQ by weighted deficit round robin over the tenants with waiting work, as room frees
 * up. Once in BullMQ a computation keeps every BullMQ guarantee (locks, stalled recovery,
 * retries, batching); a tenant's in-flight count also caps how many of its computations run.
 *
 * Keys (`fp` = `<prefix>:fair:`): `q:<tenant>` (list of waiting entries), `ring` (tenants with
 * waiting entries, in turn order), `deficit` (hash: credit per tenant), `pending` (hash:
 * computations waiting), `inflight` (zset: "<tenant> <computation>" by dispatch time), `count`
 * (hash: in-flight per tenant), `dispatching` + `dispatching:p` (entries taken by a dispatcher
 * and not yet confirmed in BullMQ: re-added if it died; adding is idempotent by job id).
 * A computation leaves the flight in the job scripts that end it (fair_release in
 * src/store/lua-scripts.ts).
 */

/**
 * ARGV: fp, tenant, computation, entryJson, nowMs, depth, cap (0 = none), tenantsKey.
 * Returns 'direct' (the caller adds it to BullMQ now), 'inflight' (already dispatched: the caller
 * adds it again, a no-op unless a producer died before adding it), 'deferred' / 'pending'
 * (a dispatcher will add it), or 'need-entry' when it must wait and entryJson was '' (the fast
 * path sends no payload; the caller sends it again with one).
 */
export const FAIR_SUBMIT = `
local fp, tenant, comp, entry, nowMs, depth, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local member = tenant .. ' ' .. comp
if redis.call('ZSCORE', fp .. 'inflight', member) then return 'inflight' end
if redis.call('HEXISTS', fp .. 'pending', comp) == 1 then return 'pending' end
redis.call('SADD', ARGV[8], tenant)
local running = tonumber(redis.call('HGET', fp .. 'count', tenant) or '0')
if redis.call('LLEN', fp .. 'ring') == 0 and redis.call('ZCARD', fp .. 'inflight') < depth and (cap == 0 or running < cap) then
  redis.call('ZADD', fp .. 'inflight', nowMs, member)
  redis.call('HINCRBY', fp .. 'count', tenant, 1)
  return 'direct'
end
if entry == '' then return 'need-entry' end
redis.call('RPUSH', fp .. 'q:' .. tenant, entry)
redis.call('HSET', fp .. 'pending', comp, tenant)
if not redis.call('LPOS', fp .. 'ring', tenant) then redis.call('RPUSH', fp .. 'ring', tenant) end
return 'deferred'
`;

/**
 * Moves up to (depth - in flight) waiting entries into flight, by weighted deficit round robin:
 * each turn a tenant gains its weight in credit and spends one per computation; a tenant at its
 * cap is passed over; a tenant whose list empties leaves the ring. Entries taken are recorded in
 * `dispatching` until FAIR_ACK; ones recorded more than recoverMs ago are returned again.
 * In-flight places older than staleMs (a computation that ended without releasing) are dropped.
 * ARGV: fp, nowMs, depth, defaultWeight, defaultCap, staleMs, recoverMs, then pairs of tenant,
 * "weight cap" overrides. Returns the entries (JSON) to add to BullMQ.
 */
export const FAIR_DISPATCH = `
local fp, nowMs, depth, defWeight, defCap, staleMs, recoverMs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local weight, cap = {}, {}
for i = 8, #ARGV, 2 do
  local w, c = string.match(ARGV[i + 1], '^(%d+) (%d+)$')
  weight[ARGV[i]] = tonumber(w); cap[ARGV[i]] = tonumber(c)
end
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', fp .. 'inflight', '-inf', nowMs - staleMs, 'LIMIT', 0, 100)) do
  redis.call('ZREM', fp .. 'inflight', m)
  redis.call('HINCRBY', fp .. 'count', string.match(m, '^(%S+) '), -1)
end
for _, comp in ipairs(redis.call('ZRANGEBYSCORE', fp .. 'dispatching', '-inf', nowMs - recoverMs, 'LIMIT', 0, 100)) do
  local e = redis.call('HGET', fp .. 'dispatching:p', comp)
  redis.call('ZADD', fp .. 'dispatching', nowMs, comp)
  if e then out[#out + 1] = e end
end
local room = depth - redis.call('ZCARD', fp .. 'inflight')
local idle = 0
while room > 0 do
  local tenant = redis.call('LINDEX', fp .. 'ring', 0)
  if not tenant then break end
  local q = fp .. 'q:' .. tenant
  local c = cap[tenant] or defCap
  local running = tonumber(redis.call('HGET', fp .. 'count', tenant) or '0')
  local credit = tonumber(redis.call('HGET', fp .. 'deficit', tenant) or '0')
  if credit < 1 then credit = credit + (weight[tenant] or defWeight) end
  local served = 0
  while credit >= 1 and room > 0 and (c == 0 or running < c) do
    local e = redis.call('LPOP', q)
    if not e then break end
    local d = cjson.decode(e)
    local comp = d.p.computation
    redis.call('HDEL', fp .. 'pending', comp)
    redis.call('ZADD', fp .. 'inflight', nowMs, tenant .. ' ' .. comp)
    redis.call('HINCRBY', fp .. 'count', tenant, 1)
    redis.call('ZADD', fp .. 'dispatching', nowMs, comp)
    redis.call('HSET', fp .. 'dispatching:p', comp, e)
    out[#out + 1] = e
    credit, room, running, served = credit - 1, room - 1, running + 1, served + 1
  end
  if redis.call('LLEN', q) == 0 then
    redis.call('LPOP', fp .. 'ring')
    redis.call('HDEL', fp .. 'deficit', tenant)
    served = -1
  elseif credit < 1 or (c > 0 and running >= c) then
    -- Its turn is over (credit spent, or at its cap): to the back of the ring.
    redis.call('HSET', fp .. 'deficit', tenant, credit)
    redis.call('LMOVE', fp .. 'ring', fp .. 'ring', 'LEFT', 'RIGHT')
  else
    redis.call('HSET', fp .. 'deficit', tenant, credit)
  end
  if served == 0 then idle = idle + 1 elseif served > 0 then idle = 0 end
  -- A whole round of the ring without progress: every waiting tenant is at its cap.
  if idle >= redis.call('LLEN', fp .. 'ring') then break end
end
return out
`;

/** ARGV: fp, computations… — their entries are in BullMQ now. */
export const FAIR_ACK = `
for i = 2, #ARGV do
  redis.call('ZREM', ARGV[1] .. 'dispatching', ARGV[i])
  redis.call('HDEL', ARGV[1] .. 'dispatching:p', ARGV[i])
end
return #ARGV - 1
`;
