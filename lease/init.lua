-- init.lua: create a namespace no process has used, so that its first
-- acquire does not wait out the start-up quarantine.
--
-- KEYS[1] meta (hash)  KEYS[2] epoch (string)  KEYS[3] hwm (hash)
-- ARGV[1] layout fingerprint  ARGV[2] workers  ARGV[3] new epoch value
--
-- Replies 1 when it created the namespace, 0 when any of the three keys
-- exists (nothing written). It stamps what acquire would (the epoch and its
-- copies, the layout, this server's incarnation) with quarantine 0. The
-- epoch key goes last: a script aborted before it leaves a namespace that
-- the next acquire treats as new, with the quarantine.

if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then
  return 0
end
local incarnation = server()
redis.call('HSET', KEYS[1], 'layout', ARGV[1], 'workers', ARGV[2], 'quarantine', '0',
  'epoch', ARGV[3], 'server', incarnation)
redis.call('HSET', KEYS[3], '_epoch', ARGV[3])
redis.call('SET', KEYS[2], ARGV[3])
return 1
