-- acquire.lua: take one free worker ID out of a window of candidates.
--
-- KEYS[1] meta (hash)  KEYS[2] epoch (string)  KEYS[3] hwm (hash)
-- KEYS[4..] lease keys of worker IDs first, first+1, ... (mod workers)
-- ARGV[1] token              ARGV[2] owner "host|pid|startUnixMs"
-- ARGV[3] ttl ms             ARGV[4] layout fingerprint
-- ARGV[5] workers            ARGV[6] first candidate worker ID
-- ARGV[7] new epoch value    ARGV[8] first fence (tick)
-- ARGV[9] quarantine span (ticks: Window + MaxSkew)
-- ARGV[10] highest acceptable HWM (tick)
-- ARGV[11] highest acceptable quarantine (tick)
-- ARGV[12] layout epoch (Unix ms)   ARGV[13] tick length (ms)
-- ARGV[14] length of the lease keys' prefix (before the worker ID)
-- ARGV[15] Window (ticks)
-- ARGV[16] replicas to wait for at least (MinReplicas; -1: never wait)
-- ARGV[17] '1' to allow an evicting maxmemory-policy
--
-- The first fence granted is ARGV[8] (local send time + Window) capped at
-- tick(Redis TIME) + Window: no fence is ever above Redis' clock plus Window,
-- so the quarantine below (Redis TIME + Window + MaxSkew) starts above every
-- fence granted before a data loss, whatever the holders' clocks said.
--
-- A possible loss is any of: no epoch key (a new namespace or a wiped
-- one), a hash without the epoch's copy (a key deleted or evicted), or a
-- server other than the one that last took a lease here (meta.server is
-- not this server's incarnation: a restart, a restored backup, a
-- failover; the data may be older than what holders were told). After a
-- possible loss nobody starts before the quarantine tick. After a change of
-- server the epoch is replaced too, so that every lease granted before it
-- fails its next renewal: their keys may be stale copies.
--
-- Replies:
--   {1, id, startAfter, quarantine, epoch, nowMs, fence, replicas}
--        acquired (or re-found: a retry); the caller waits for `replicas`
--        replicas (WAIT) before it uses the worker ID
--   {0, free, tooFar, foreign, minTooFar, nowMs}   nothing usable in this window
--   {2, quarantine, nowMs}                         quarantine too far ahead
-- Errors: "IDGEN WRONGTYPE <key> <type>", "IDGEN LAYOUT <fingerprint>",
-- "IDGEN BADHWM <id>", "IDGEN EVICTION <policy>", "IDGEN NOINFO ...".
--
-- Nothing is written unless a worker ID is taken (except the remembered
-- replica count, which only rises), and every check that can fail comes
-- before the first write, so a refused acquire leaves no other trace.
-- (A command refused by Redis itself, such as an ACL denial, aborts the
-- script midway; see stamp and take for why that is still safe.)
-- Running it twice with the same token returns the same worker ID (go-redis
-- retries a command whose reply was lost).

local function kind(key)
  return redis.call('TYPE', key)['ok']
end

local expect = {[1] = 'hash', [2] = 'string', [3] = 'hash'}
for i = 1, 3 do
  local t = kind(KEYS[i])
  if t ~= 'none' and t ~= expect[i] then
    return redis.error_reply('IDGEN WRONGTYPE ' .. KEYS[i] .. ' ' .. t)
  end
end

local layout = redis.call('HGET', KEYS[1], 'layout')
if layout and layout ~= ARGV[4] then
  return redis.error_reply('IDGEN LAYOUT ' .. layout)
end

local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowTick = math.floor((nowMs - tonumber(ARGV[12])) / tonumber(ARGV[13]))
local fence = math.min(tonumber(ARGV[8]), nowTick + tonumber(ARGV[15]))
local fenceStr = string.format('%d', fence)

local incarnation, replid2, connected = server()

if ARGV[17] ~= '1' then
  local policy = string.match(redis.call('INFO', 'memory'), 'maxmemory_policy:([%w%-]+)')
  if policy and string.sub(policy, 1, 8) == 'allkeys-' then
    return redis.error_reply('IDGEN EVICTION ' .. policy)
  end
end

-- A missing epoch means a new namespace or a dataset that lost its keys.
-- The meta and hwm hashes carry the epoch too, so losing one of them alone
-- (eviction, a stray DEL) is caught as well. Either way HWMs may be gone,
-- and nobody starts before the quarantine tick. A surviving epoch value is
-- kept, so that live holders, whose own HWMs their renewals restore, go on,
-- unless the server changed: then the keys themselves may be stale.
local epoch = redis.call('GET', KEYS[2])
local quarantine = tonumber(redis.call('HGET', KEYS[1], 'quarantine') or '0') or 0
local stamped = redis.call('HGET', KEYS[1], 'server')
local moved = epoch and stamped ~= incarnation
-- A promoted replica of the master that stamped the namespace is a new
-- history: it starts over from the replicas it has (below). Any other
-- change (a restart, a lost meta hash) keeps the remembered count.
local promoted = moved and succeeded(stamped, replid2)
local newEpoch = not epoch or moved
if newEpoch then
  epoch = ARGV[7]
end
local fresh = newEpoch or redis.call('HGET', KEYS[1], 'epoch') ~= epoch
  or redis.call('HGET', KEYS[3], '_epoch') ~= epoch
if fresh then
  quarantine = math.max(quarantine, nowTick + tonumber(ARGV[9]))
end

-- Replicas to wait for: every replica this namespace's server has had
-- (remembered, so that a master cut off from its replicas cannot go on
-- granting fences a promoted replica never saw), at least ARGV[16]. A
-- replica promoted in place of the master that stamped the namespace is a
-- new history: it starts over from the replicas it has now, so that a
-- failover does not stop the namespace for good.
local floor = tonumber(ARGV[16])
local replicas = 0
if floor >= 0 then
  local known = remembered(KEYS[1], KEYS[3])
  if promoted then
    known = 0
  end
  replicas = math.max(known, connected, floor)
  -- A replica seen for the first time is remembered at once, even by an
  -- acquire that takes nothing: the sooner the namespace knows it, the
  -- shorter the window in which a cut-off master could forget it (see
  -- docs/design.md, rule 8). The only write of a refused acquire; it never
  -- lowers the count.
  if connected > known and not promoted then
    remember(KEYS[1], KEYS[3], connected)
  end
end

-- stamp records the checks above. Its order keeps the namespace safe if a
-- write fails midway (an ACL or memory refusal aborts the script, and Lua
-- does not roll back): the quarantine first, then the new epoch (which
-- ends the old leases), then the epoch copies and the server, which end
-- the possible loss for the next acquire.
local function stamp()
  if fresh then
    redis.call('HSET', KEYS[1], 'quarantine', string.format('%d', quarantine))
  end
  if newEpoch then
    redis.call('SET', KEYS[2], epoch)
  end
  if fresh then
    redis.call('HSET', KEYS[3], '_epoch', epoch)
    redis.call('HSET', KEYS[1], 'epoch', epoch, 'server', incarnation)
  end
  if floor >= 0 then
    remember(KEYS[1], KEYS[3], replicas)
  end
end

local workers = tonumber(ARGV[5])
local first = tonumber(ARGV[6])
local n = #KEYS - 3
local vals = redis.call('MGET', unpack(KEYS, 4, 3 + n))
local prefix = ARGV[1] .. '|'
local free, nfree = {}, 0
for i = 1, n do
  local v = vals[i]
  if not v then
    nfree = nfree + 1
    free[nfree] = i
  elseif string.sub(v, 1, #prefix) == prefix then
    -- This token already holds it: a retry of a call whose reply was lost.
    -- After a possible loss the key may be a stale copy: start above the
    -- quarantine all the same.
    stamp()
    local startAfter = math.max(tonumber(string.match(v, '|(%-?%d+)$')) or quarantine, quarantine)
    local field = string.sub(KEYS[3 + i], tonumber(ARGV[14]) + 1)
    local h = tonumber(redis.call('HGET', KEYS[3], field) or '-1') or -1
    if fence > h then
      redis.call('HSET', KEYS[3], field, fenceStr)
    end
    redis.call('SET', KEYS[3 + i], prefix .. ARGV[2] .. '|' .. string.format('%d', startAfter), 'PX', ARGV[3])
    return {1, (first + i - 1) % workers, startAfter, quarantine, epoch, nowMs, fenceStr, replicas}
  end
end

if quarantine > tonumber(ARGV[11]) then
  return {2, quarantine, nowMs}
end
if nfree == 0 then
  return {0, 0, 0, 0, 0, nowMs}
end

-- Worker ID strings are the keys' suffixes (cheaper than formatting).
local plen = tonumber(ARGV[14])
local fields = {}
local sub = string.sub
for j = 1, nfree do
  fields[j] = sub(KEYS[3 + free[j]], plen + 1)
end
local raw = redis.call('HMGET', KEYS[3], unpack(fields))
local maxHWM = tonumber(ARGV[10])
local hwm = {}
local tooFar, minTooFar = 0, 0
local best, bestH = nil, nil
-- Lowest HWM first (none = never used = lowest); ties keep window order,
-- which starts at a random offset. One pass, no sort: this is the hot path.
for j = 1, nfree do
  local h = -1
  local r = raw[j]
  if r then
    h = tonumber(r)
    if not h then
      return redis.error_reply('IDGEN BADHWM ' .. fields[j])
    end
  end
  hwm[j] = h
  if h > maxHWM then
    if tooFar == 0 or h < minTooFar then minTooFar = h end
    tooFar = tooFar + 1
  elseif best == nil or h < bestH then
    best, bestH = j, h
  end
end

-- take writes after stamp in an order that keeps the namespace consistent
-- if a write fails: the HWM before the lease key, and the lease key last.
local function take(j)
  local i = free[j]
  if redis.call('EXISTS', KEYS[3 + i]) == 1 then
    return nil -- exists with another type: MGET read it as nil
  end
  local startAfter = math.max(hwm[j], quarantine, 0)
  stamp()
  if not layout then
    redis.call('HSET', KEYS[1], 'layout', ARGV[4], 'workers', ARGV[5])
  end
  if fence > hwm[j] then
    redis.call('HSET', KEYS[3], fields[j], fenceStr)
  end
  local value = prefix .. ARGV[2] .. '|' .. string.format('%d', startAfter)
  redis.call('SET', KEYS[3 + i], value, 'PX', ARGV[3])
  return {1, (first + i - 1) % workers, startAfter, quarantine, epoch, nowMs, fenceStr, replicas}
end

local foreign = 0
if best then
  local r = take(best)
  if r then return r end
  -- The best one is a key of another type. Rare: try the rest in order.
  foreign = 1
  local usable = {}
  for j = 1, nfree do
    if j ~= best and hwm[j] <= maxHWM then usable[#usable + 1] = j end
  end
  table.sort(usable, function(a, b)
    if hwm[a] ~= hwm[b] then return hwm[a] < hwm[b] end
    return a < b
  end)
  for _, j in ipairs(usable) do
    r = take(j)
    if r then return r end
    foreign = foreign + 1
  end
end
return {0, nfree - foreign - tooFar, tooFar, foreign, minTooFar, nowMs}
