-- renew.lua: extend a held lease and raise its worker's high-water mark.
--
-- KEYS[1] epoch  KEYS[2] hwm  KEYS[3] lease key  KEYS[4] meta
-- ARGV[1] token  ARGV[2] epoch value seen at acquire  ARGV[3] ttl ms
-- ARGV[4] worker ID  ARGV[5] proposed fence (tick: local send time + Window)
-- ARGV[6] layout epoch (Unix ms)  ARGV[7] tick length (ms)  ARGV[8] Window (ticks)
-- ARGV[9] replicas to wait for at least (MinReplicas; -1: never wait)
--
-- The fence granted is the proposed one capped at tick(Redis TIME) + Window,
-- so that no fence is ever above Redis' own clock plus Window, whatever the
-- holder's clock says: the quarantine after a data loss (acquire.lua) starts
-- above every fence ever granted because of it.
--
-- A server other than the one the namespace was last stamped with (a
-- restart, a restored backup, a failover) may hold older data: the key that
-- looks like ours may be a stale copy, and the worker ID may have been
-- issued past our fence by a holder whose writes were lost. The lease is
-- then lost, like after a data loss; the next acquire sets the quarantine.
-- So is a lease whose namespace lost its meta hash: the server the data
-- belongs to can no longer be checked.
--
-- Replies: {1, fence, replicas} renewed with that fence, once `replicas`
-- replicas have the write (the caller WAITs); {0, reason} lost, where reason
-- is one of server-changed, meta-missing, meta-wrongtype (the server
-- cannot be checked), epoch-missing, epoch-changed, epoch-wrongtype
-- (Redis lost or replaced its data), expired (key gone), taken (another
-- token), wrongtype (key replaced by another type), hwm-wrongtype (the HWM
-- can no longer be kept). Nothing is written unless the lease is still
-- ours, except the remembered replica count, which only rises. Idempotent.

local function kind(key)
  return redis.call('TYPE', key)['ok']
end

local incarnation, _, connected = server()
local mt = kind(KEYS[4])

-- A replica seen for the first time is remembered at once, even by a
-- renewal that finds its lease lost (see acquire.lua).
local floor = tonumber(ARGV[9])
if floor >= 0 and connected > 0 and connected > remembered(KEYS[4], KEYS[2]) then
  remember(KEYS[4], KEYS[2], connected)
end

local et = kind(KEYS[1])
if et == 'none' then return {0, 'epoch-missing'} end
if et ~= 'string' then return {0, 'epoch-wrongtype'} end
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return {0, 'epoch-changed'} end

if mt == 'none' then return {0, 'meta-missing'} end
if mt ~= 'hash' then return {0, 'meta-wrongtype'} end
if redis.call('HGET', KEYS[4], 'server') ~= incarnation then
  return {0, 'server-changed'}
end

local lt = kind(KEYS[3])
if lt == 'none' then return {0, 'expired'} end
if lt ~= 'string' then return {0, 'wrongtype'} end
local v = redis.call('GET', KEYS[3])
local prefix = ARGV[1] .. '|'
if string.sub(v, 1, #prefix) ~= prefix then return {0, 'taken'} end

local ht = kind(KEYS[2])
if ht ~= 'none' and ht ~= 'hash' then return {0, 'hwm-wrongtype'} end

local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = math.floor((nowMs - tonumber(ARGV[6])) / tonumber(ARGV[7])) + tonumber(ARGV[8])
local fence = math.min(tonumber(ARGV[5]), cap)

-- Every replica the server has had, remembered (see acquire.lua).
local replicas = 0
if floor >= 0 then
  local known = remembered(KEYS[4], KEYS[2])
  replicas = math.max(known, connected, floor)
  if replicas > known then
    remember(KEYS[4], KEYS[2], replicas)
  end
end

local h = tonumber(redis.call('HGET', KEYS[2], ARGV[4]) or '-1') or -1
if fence > h then
  redis.call('HSET', KEYS[2], ARGV[4], string.format('%d', fence))
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return {1, fence, replicas}
