// Package lease leases Snowflake worker IDs from Redis and fences the IDs
// issued under a lease in ID-time, so that two holders of one worker ID can
// never issue the same ID, whatever their clocks, pauses or network delays.
//
// # How it works
//
// Acquire takes a free worker ID with SET NX PX and a random token, in one
// Lua script that looks at up to 1024 candidate IDs and prefers the one
// whose high-water mark (HWM) is lowest. The lease then renews itself every
// RenewInterval (TTL/3, jittered), or, with RenewInterval = ManualRenewal,
// whenever the caller calls Renew. Each renewal, one script, checks the
// token and the dataset epoch, extends the key, and raises the worker's HWM
// to the new fence, tick(send time) + Window capped at tick(Redis TIME) +
// Window. The fence is adopted, and
// passed on to the bound generator, only after the reply (and after WAIT
// when MinReplicas > 0). A failed renewal keeps the old fence, so IDs stop
// when it is reached; a missing or foreign key, or a changed epoch, means
// the lease is lost: Done closes, Err wraps ErrLeaseLost, and every bound
// generator is stopped at once.
//
// # Why IDs stay unique
//
// A holder never issues a tick above its fence, and Redis holds every
// fence in the HWM before the holder uses it. A new holder issues only
// ticks above the HWM it read when it acquired (StartAfter). So the old
// holder's IDs are at or below the HWM and the new holder's above it, even
// if the old one is paused past its TTL and resumes issuing after its key
// expired: nothing it can issue is above the HWM the new holder started
// after.
//
// This is also why the lease keeps no local deadline that would stop IDs
// when the key may have expired: the fence already bounds what a paused or
// partitioned holder can issue, in the same units the IDs carry, and the
// next holder starts above every fence ever granted. Stats.ExpiresAt shows
// the local guess of the key's expiry for monitoring only.
//
// Close stops the bound generators first and only then sets the HWM to
// the last tick they issued (never below StartAfter) and deletes the key,
// so the worker ID can be taken again at once without waiting out the
// Window.
//
// # What it rests on
//
//   - Redis keeps the HWM. If it loses its data (a restart without
//     persistence, a failover to an empty replica), the missing dataset
//     epoch key tells, and the next holder starts no earlier than
//     Redis TIME + Window + MaxSkew (a quarantine). The hwm and meta hashes
//     carry the epoch too, so losing one of them alone (eviction, a stray
//     DEL) is caught the same way; holders whose lease survived go on. That covers the fences
//     of nodes whose Window and clock skew are within this node's Window
//     and MaxSkew: use the same values on every node of a namespace. A
//     namespace's first use looks like a loss and waits out the quarantine
//     too. Losing only the latest writes (AOF with appendfsync everysec, an
//     asynchronous failover) is not detected: use appendfsync always, or
//     MinReplicas with min-replicas-to-write; see docs/operations.md.
//   - For the quarantine, Redis' own clock must not step back by more than
//     MaxSkew across the loss. Node clocks do not matter: the scripts cap
//     every fence at tick(Redis TIME) + Window, so no fence granted before
//     the loss can reach the quarantine start, however fast a node's clock
//     ran. For the fence itself clocks only affect availability.
//   - maxmemory-policy noeviction: an evicted HWM is a lost HWM.
//
// # Keys
//
// All keys of namespace ns carry the hash tag {ns}, so they share one slot
// on Redis Cluster and every key a script touches is passed in KEYS.
// KeysOf(ns) names them, and Keys.ACL lists what a Redis ACL user needs:
//
//	{ns}:lease:<id>  string with TTL: "<token>|<host>|<pid>|<startUnixMs>|<startAfter>"
//	{ns}:hwm         hash, no TTL: worker ID -> high-water mark (tick); _epoch -> epoch; _replicas
//	{ns}:meta        hash, no TTL: layout fingerprint, worker count, quarantine tick, epoch
//	{ns}:epoch       string, no TTL: random dataset epoch
//
// The scripts (acquire.lua, renew.lua, release.lua) run through go-redis
// Script: EVALSHA, then EVAL after NOSCRIPT (a restart, a failover or
// SCRIPT FLUSH). Each is idempotent for its token, since go-redis retries
// a command whose reply was lost.
package lease
