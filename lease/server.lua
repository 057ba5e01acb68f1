-- server.lua: prepended to every script (see redis.go). Who is answering,
-- read atomically with the namespace's keys.
--
-- server() returns
--   incarnation  run_id .. ':' .. master_replid: it changes whenever a new
--                process serves the data (a restart, a restored backup) and
--                whenever a server becomes master (a promotion), which are
--                exactly the events after which the data may be older than
--                what holders were told
--   promoted     true when this master was a replica of another history
--                (master_replid2 is set): a failover, not a restart
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
  return run .. ':' .. replid, string.find(replid2, '[^0]') ~= nil, replicas
end
