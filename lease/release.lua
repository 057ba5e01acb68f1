-- release.lua: give back the worker IDs a token holds.
--
-- KEYS[1] hwm  KEYS[2] meta  KEYS[3..] lease keys of worker IDs first,
-- first+1, ... (mod workers)
-- ARGV[1] token  ARGV[2] HWM to write ('' = leave it at the fence)
-- ARGV[3] first worker ID  ARGV[4] workers
--
-- Deletes each listed key that holds the token, after setting its worker's
-- HWM to ARGV[2]. That may lower the HWM from the last fence: the caller
-- passes it only after stopping its generators, and never below the last
-- tick they issued nor below the tick the lease started after. On a server
-- other than the one the namespace was stamped with (see renew.lua) the
-- HWM is left alone: the key may be a stale copy.
-- With one key it is the normal release; with a whole window it cleans up
-- after an acquire whose reply was lost. Replies with how many keys it
-- deleted. Idempotent.

local prefix = ARGV[1] .. '|'
local first = tonumber(ARGV[3])
local workers = tonumber(ARGV[4])
local vals = redis.call('MGET', unpack(KEYS, 3))
local ht = redis.call('TYPE', KEYS[1])['ok']
local write = ARGV[2] ~= '' and (ht == 'none' or ht == 'hash')
if write then
  local incarnation = server()
  write = redis.call('TYPE', KEYS[2])['ok'] == 'hash' and redis.call('HGET', KEYS[2], 'server') == incarnation
end
local n = 0
for i = 1, #KEYS - 2 do
  local v = vals[i]
  if v and string.sub(v, 1, #prefix) == prefix then
    if write then
      redis.call('HSET', KEYS[1], string.format('%d', (first + i - 1) % workers), ARGV[2])
    end
    redis.call('DEL', KEYS[2 + i])
    n = n + 1
  end
end
return n
