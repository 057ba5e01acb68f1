-- server.lua: prepended to every script (see redis.go). Who is answering,
-- read atomically with the namespace's keys.
--
-- server() returns
--   incarnation  run_id .. ':' .. master_replid: it changes whenever a new
--                process serves the data (a restart, a restored backup) and
--                whenever a server becomes master (a promotion), which are
--                exactly the events after which the data may be older than
--                what holders were told
--   replid2      master_replid2: the replication ID of the master this
--                server replicated before it was promoted ('' if none).
--                It stays set for the server's whole life, so it says
--                "this server succeeded that master", not "just now"
--   replicas     connected replicas
-- or raises "IDGEN NOINFO <what>" when INFO does not show them: the lease
-- cannot tell a rollback from a normal renewal without them, so it refuses
-- to run rather than guess.

local function server()
  local s = redis.call('INFO', 'server')
  local r = redis.call('INFO', 'replication')
  local run = string.match(s, 'run_id:(%x+)')
  local replid = string.match(r, 'master_replid:(%x+)')
  local replicas = tonumber(string.match(r, 'connected_slaves:(%d+)') or '')
  if not run or not replid or not replicas then
    error({err = 'IDGEN NOINFO run_id, master_replid and connected_slaves are needed from INFO server and INFO replication'})
  end
  local replid2 = string.match(r, 'master_replid2:(%x+)') or ''
  if not string.find(replid2, '[^0]') then
    replid2 = ''
  end
  return run .. ':' .. replid, replid2, replicas
end

-- succeeded reports whether this server (incarnation, replid2) took over
-- from the master that stamped the namespace (stamped = meta.server): its
-- master_replid2 is that master's replication ID. Only then does the
-- namespace's data come from the master this one replaced.
local function succeeded(stamped, replid2)
  return stamped and replid2 ~= '' and string.match(stamped, ':(%x+)$') == replid2
end

-- The replicas the namespace's master has had are remembered in two keys,
-- the meta hash and the hwm hash (field _replicas), like the epoch, so
-- that losing one key alone does not forget them. remembered(meta, hwm)
-- reads the larger copy (keys of another type count as 0); remember writes
-- n to both copies that are hashes or missing.
local function remembered(meta, hwm)
  local n = 0
  for _, k in ipairs({{meta, 'replicas'}, {hwm, '_replicas'}}) do
    local t = redis.call('TYPE', k[1])['ok']
    if t == 'hash' then
      n = math.max(n, tonumber(redis.call('HGET', k[1], k[2]) or '0') or 0)
    end
  end
  return n
end

local function remember(meta, hwm, n)
  for _, k in ipairs({{meta, 'replicas'}, {hwm, '_replicas'}}) do
    local t = redis.call('TYPE', k[1])['ok']
    if t == 'hash' or t == 'none' then
      redis.call('HSET', k[1], k[2], n)
    end
  end
end
