/**
 * The Lua that keeps the adapter index, its usage counters and its lifecycle consistent. Every
 * change of an adapter's entry — stored, used, pinned, expired, evicted, deleted — runs in one
 * script, so the tenant's `usage` hash is exact under any interleaving of writes, uses and
 * removals (quota accounting cannot drift).
 *
 * Keys are built inside the scripts from the tenant prefix (`<prefix>:t:<tenant>:`), as the job
 * scripts do; like them, these assume a single Redis, not a Redis Cluster.
 *
 * Removal protocol (what makes eviction safe against downloads and regenerations):
 * - the index entry goes first, atomically with the usage counters, and a `removing:<id>`
 *   marker is set in the same script; then the remover deletes the files and clears the marker;
 * - a computation of the same id waits for the marker to clear before it writes, and a marker
 *   can only be set while no computation of that id exists (an index entry and a computation of
 *   one id never coexist), so a removal never deletes files a regeneration has just written;
 * - entries under a download lease (`lease_n` > 0 until `lease_until`) are skipped by eviction
 *   and expiry, so a download in progress completes whole.
 */

/** How long a removal marker holds off a regeneration of the same id (a rename takes far less). */
export const REMOVAL_MARKER_MS = 60_000;

/** Shared functions, prepended to the scripts that need them (the job scripts too). */
export const ADAPTER_LUA = `
local function last_used(h_used, h_created)
  return tonumber(h_used or h_created or '0')
end
local function is_expired(h_used, h_created, h_pinned, ttlMs, nowMs)
  if h_pinned == '1' then return false end
  return last_used(h_used, h_created) + ttlMs <= nowMs
end
local function is_leased(k, nowMs)
  local l = redis.call('HMGET', k, 'lease_n', 'lease_until')
  return tonumber(l[1] or '0') > 0 and tonumber(l[2] or '0') > nowMs
end
-- Removes one index entry and its accounting; returns its bytes, or false when there was none.
local function drop_adapter(tp, id, reason, nowMs, goneTtl, markerMs)
  local k = tp .. 'adapter:' .. id
  if redis.call('EXISTS', k) == 0 then return false end
  local h = redis.call('HMGET', k, 'bytes', 'pinned', 'model')
  local bytes = tonumber(h[1] or '0')
  redis.call('DEL', k)
  redis.call('ZREM', tp .. 'adapters', id)
  if h[3] then redis.call('ZREM', tp .. 'adapters:m:' .. h[3], id) end
  redis.call('ZREM', tp .. 'lru', id)
  if h[1] then
    redis.call('HINCRBY', tp .. 'usage', 'bytes', -bytes)
    redis.call('HINCRBY', tp .. 'usage', 'count', -1)
    if h[2] == '1' then redis.call('HINCRBY', tp .. 'usage', 'pinned_bytes', -bytes) end
  end
  if reason ~= 'deleted' then redis.call('SET', tp .. 'gone:' .. id, reason .. ' ' .. nowMs, 'EX', goneTtl) end
  if markerMs > 0 then redis.call('SET', tp .. 'removing:' .. id, '1', 'PX', markerMs) end
  return bytes
end
local function add_adapter(tp, id, record, model, bytes, nowMs, tenantsKey, tenant)
  redis.call('HSET', tp .. 'adapter:' .. id, 'record', record, 'created_ms', nowMs, 'used_ms', nowMs, 'model', model, 'bytes', bytes)
  redis.call('ZADD', tp .. 'adapters', nowMs, id)
  redis.call('ZADD', tp .. 'adapters:m:' .. model, nowMs, id)
  redis.call('ZADD', tp .. 'lru', nowMs, id)
  redis.call('HINCRBY', tp .. 'usage', 'bytes', bytes)
  redis.call('HINCRBY', tp .. 'usage', 'count', 1)
  redis.call('DEL', tp .. 'gone:' .. id)
  redis.call('SADD', tenantsKey, tenant)
end
-- The unpinned, unleased adapters to evict, least recently used first, so that need more bytes
-- fit under quota: {} when they fit already, false when even evicting all of them would not do.
local function plan_eviction(tp, need, quota, nowMs)
  local used = tonumber(redis.call('HGET', tp .. 'usage', 'bytes') or '0')
  local over = used + need - quota
  if over <= 0 then return {} end
  local out = {}
  local start = 0
  while true do
    local ids = redis.call('ZRANGE', tp .. 'lru', start, start + 63)
    if #ids == 0 then return false end
    for _, id in ipairs(ids) do
      local k = tp .. 'adapter:' .. id
      if not is_leased(k, nowMs) then
        out[#out + 1] = id
        over = over - tonumber(redis.call('HGET', k, 'bytes') or '0')
        if over <= 0 then return out end
      end
    end
    start = start + 64
  end
end
-- A live entry's fields {record, created_ms, used_ms, pinned, bytes}; or nil and the reply for an
-- id that is missing, gone (with why) or expired.
local function live_entry(tp, id, ttlMs, nowMs)
  local h = redis.call('HMGET', tp .. 'adapter:' .. id, 'record', 'created_ms', 'used_ms', 'pinned', 'bytes')
  if not h[1] then
    local why = redis.call('GET', tp .. 'gone:' .. id)
    if why then return nil, {'gone', why} end
    return nil, {'missing'}
  end
  if is_expired(h[3], h[2], h[4], ttlMs, nowMs) then return nil, {'expired'} end
  return h
end
local function entry_reply(h)
  return {'ok', h[1], h[2] or '', h[3] or h[2] or '', h[4] or '0', h[5] or ''}
end
local function storage_message(tp, tenant, need, quota)
  local u = redis.call('HMGET', tp .. 'usage', 'bytes', 'pinned_bytes')
  return string.format('Storing this adapter needs %.0f bytes, but tenant %s stores %.0f of its %.0f-byte quota, %.0f of them in pinned adapters (the rest are being downloaded or are pinned, and cannot be evicted now). Unpin or delete adapters, or ask the operator for a larger quota.',
    need, tenant, tonumber(u[1] or '0'), quota, tonumber(u[2] or '0'))
end
`;

/**
 * Looks an adapter up; with `touch` it counts as a use (last_used_at moves, so expiry and LRU
 * order move), with a lease it is also held against eviction and expiry for leaseMs.
 * ARGV: tenantPrefix, id, nowMs, ttlMs, touch ('1'|'0'), leaseMs (0 = none).
 * Returns {'ok', record, created_ms, used_ms, pinned, bytes} | {'expired'} | {'gone', why} | {'missing'}.
 */
export const LOOKUP_ADAPTER = `${ADAPTER_LUA}
local tp, id, nowMs, ttlMs, touch, leaseMs = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local k = tp .. 'adapter:' .. id
local h, absent = live_entry(tp, id, ttlMs, nowMs)
if not h then return absent end
if touch then
  h[3] = tostring(nowMs)
  redis.call('HSET', k, 'used_ms', nowMs)
  if h[4] ~= '1' then redis.call('ZADD', tp .. 'lru', nowMs, id) end
end
if leaseMs > 0 then
  redis.call('HINCRBY', k, 'lease_n', 1)
  local until_ = tonumber(redis.call('HGET', k, 'lease_until') or '0')
  if nowMs + leaseMs > until_ then redis.call('HSET', k, 'lease_until', nowMs + leaseMs) end
end
return entry_reply(h)
`;

/** ARGV: tenantPrefix, id, nowMs, leaseMs (0 = release one lease, else renew until now+leaseMs). */
export const LEASE_ADAPTER = `
local k = ARGV[1] .. 'adapter:' .. ARGV[2]
if redis.call('EXISTS', k) == 0 then return 0 end
local leaseMs = tonumber(ARGV[4])
if leaseMs == 0 then
  if tonumber(redis.call('HINCRBY', k, 'lease_n', -1)) <= 0 then redis.call('HDEL', k, 'lease_n', 'lease_until') end
else
  redis.call('HSET', k, 'lease_until', tonumber(ARGV[3]) + leaseMs)
end
return 1
`;

/**
 * Pins or unpins. Unpinning counts as a use (an adapter pinned for months does not expire the
 * moment it is unpinned). ARGV: tenantPrefix, id, nowMs, ttlMs, pinned ('1'|'0').
 * Returns as LOOKUP_ADAPTER.
 */
export const PIN_ADAPTER = `${ADAPTER_LUA}
local tp, id, nowMs, ttlMs, pin = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local k = tp .. 'adapter:' .. id
local h, absent = live_entry(tp, id, ttlMs, nowMs)
if not h then return absent end
local bytes = tonumber(h[5] or '0')
if pin and h[4] ~= '1' then
  redis.call('HSET', k, 'pinned', '1')
  redis.call('ZREM', tp .. 'lru', id)
  redis.call('HINCRBY', tp .. 'usage', 'pinned_bytes', bytes)
  h[4] = '1'
elseif not pin and h[4] == '1' then
  redis.call('HDEL', k, 'pinned')
  redis.call('HSET', k, 'used_ms', nowMs)
  redis.call('ZADD', tp .. 'lru', nowMs, id)
  redis.call('HINCRBY', tp .. 'usage', 'pinned_bytes', -bytes)
  h[4] = '0'
  h[3] = tostring(nowMs)
end
return entry_reply(h)
`;

/**
 * Removes index entries. mode 'expire' removes only entries that are expired, unleased and have
 * no computation; 'force' removes whatever is there (a user's DELETE, damaged or lost files).
 * ARGV: tenantPrefix, mode, reason, nowMs, ttlMs, goneTtlSeconds, markerMs, ids…
 * Returns the ids removed (their files are the caller's to delete, then their markers).
 */
export const REMOVE_ADAPTERS = `${ADAPTER_LUA}
local tp, mode, reason, nowMs, ttlMs, goneTtl, markerMs = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local out = {}
for i = 8, #ARGV do
  local id = ARGV[i]
  local k = tp .. 'adapter:' .. id
  local ok = true
  if mode == 'expire' then
    local h = redis.call('HMGET', k, 'created_ms', 'used_ms', 'pinned')
    ok = (h[1] or h[2]) and is_expired(h[2], h[1], h[3], ttlMs, nowMs) and not is_leased(k, nowMs)
      and redis.call('EXISTS', tp .. 'comp:' .. id) == 0
  end
  if ok and drop_adapter(tp, id, reason, nowMs, goneTtl, markerMs) then out[#out + 1] = id end
end
return out
`;

/**
 * Claims directories that no index entry and no computation point to, for removal (sets their
 * markers). ARGV: tenantPrefix, markerMs, ids…  Returns the ids claimed.
 */
export const CLAIM_ORPHANS = `
local tp, markerMs = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', tp .. 'adapter:' .. id) == 0 and redis.call('EXISTS', tp .. 'comp:' .. id) == 0
    and redis.call('SET', tp .. 'removing:' .. id, '1', 'PX', markerMs, 'NX') then
    out[#out + 1] = id
  end
end
return out
`;

/**
 * Brings entries written before the lifecycle existed into its accounting (bytes, model, last
 * use, LRU and model indexes, usage). ARGV: tenantPrefix, tenantsKey, tenant, then per entry:
 * id, bytes, model. Returns how many it changed.
 */
export const BACKFILL_ADAPTERS = `${ADAPTER_LUA}
local tp, tenantsKey, tenant = ARGV[1], ARGV[2], ARGV[3]
local n = 0
for i = 4, #ARGV, 3 do
  local id, bytes, model = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local k = tp .. 'adapter:' .. id
  local h = redis.call('HMGET', k, 'record', 'created_ms', 'bytes')
  if h[1] and not h[3] then
    redis.call('HSET', k, 'bytes', bytes, 'model', model, 'used_ms', h[2] or '0')
    redis.call('ZADD', tp .. 'adapters:m:' .. model, tonumber(h[2] or '0'), id)
    redis.call('ZADD', tp .. 'lru', tonumber(h[2] or '0'), id)
    redis.call('HINCRBY', tp .. 'usage', 'bytes', bytes)
    redis.call('HINCRBY', tp .. 'usage', 'count', 1)
    redis.call('SADD', tenantsKey, tenant)
    n = n + 1
  end
end
return n
`;
