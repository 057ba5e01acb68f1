package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/snowlease/idgen/lease"
)

// probeKey is a lease key of namespace ns that no worker ID ever has: write
// probes on it change nothing.
func probeKey(ns string) string { return lease.KeysOf(ns).LeasePrefix() + "doctor-probe" }

const zeroSHA = "0000000000000000000000000000000000000000"

// aclNeed is one call the library runs, from lease's ACL table.
type aclNeed struct {
	args     []string
	required bool   // false: only some features need it
	why      string // for the message when it is denied
}

// aclNeeds are the calls of every command in lease's ACL table; WAIT is
// required unless MinReplicas is -1 (it turns the waits off), List's and
// go-redis's connection commands are not.
func aclNeeds(ns string, minReplicas int) []aclNeed {
	var needs []aclNeed
	for _, n := range lease.KeysOf(ns).ACL() {
		required := n.Use == lease.ACLAlways || n.Use == lease.ACLReplicas && minReplicas >= 0
		for _, call := range n.Calls {
			needs = append(needs, aclNeed{call, required, n.Why})
		}
	}
	return needs
}

// checkACL checks that this connection's user may run what the library
// runs. With ACL WHOAMI and ACL DRYRUN allowed it asks Redis about each
// command without running it; otherwise it probes with commands that
// change nothing and reports what it could not verify.
func (d *doctor) checkACL(ctx context.Context) result {
	cctx, cancel := d.ctx(ctx)
	defer cancel()
	needs := aclNeeds(d.ns, d.minReplicas)

	user, err := d.client.Do(cctx, "acl", "whoami").Text()
	if err == nil {
		if r, ok := d.dryRun(cctx, user, needs); ok {
			return r
		}
	}
	return d.probeACL(cctx, user)
}

// dryRun asks ACL DRYRUN about every need; ok is false when DRYRUN itself
// is not available.
func (d *doctor) dryRun(ctx context.Context, user string, needs []aclNeed) (result, bool) {
	var deniedReq, deniedOpt []string
	for _, n := range needs {
		args := []any{"acl", "dryrun", user}
		for _, a := range n.args {
			args = append(args, a)
		}
		reply, err := d.client.Do(ctx, args...).Text()
		if err != nil {
			return result{}, false // DRYRUN denied, unknown (Redis < 7) or routed oddly
		}
		if reply == "OK" {
			continue
		}
		line := fmt.Sprintf("%s (%s): %s", strings.ToUpper(n.args[0]), n.why, reply)
		if n.required {
			deniedReq = append(deniedReq, line)
		} else {
			deniedOpt = append(deniedOpt, line)
		}
	}
	switch {
	case len(deniedReq) > 0:
		return result{"acl", failed, fmt.Sprintf("user %q may not run what idgen needs; allow the commands and the key "+
			"pattern ~%s (see docs/operations.md):\n%s", user, lease.KeysOf(d.ns).Pattern(), strings.Join(append(deniedReq, deniedOpt...), "\n"))}, true
	case len(deniedOpt) > 0:
		return result{"acl", warn, fmt.Sprintf("user %q may run the library, but not everything else:\n%s",
			user, strings.Join(deniedOpt, "\n"))}, true
	}
	return result{"acl", pass, fmt.Sprintf("user %q may run every command idgen needs on namespace %q (checked with ACL DRYRUN)",
		user, d.ns)}, true
}

// probeScript runs, inside one script, the commands the lease scripts use,
// each in a way that changes nothing (reads, and writes to a key that
// never exists with XX or on a missing key), and returns the ones the ACL
// refused. HSET cannot be probed without writing, so it is not.
const probeScript = `
local denied = {}
local function try(name, ...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err then
    local e = r.err
    if string.find(e, 'NOPERM') or string.find(e, 'permission') or string.find(e, "can't run") or string.find(e, "can't access") then
      denied[#denied + 1] = name .. ': ' .. e
    end
  end
end
try('TYPE', 'TYPE', KEYS[1])
try('HGET', 'HGET', KEYS[1], 'layout')
try('HMGET', 'HMGET', KEYS[3], '0')
try('GET', 'GET', KEYS[2])
try('MGET', 'MGET', KEYS[4], KEYS[5])
try('TIME', 'TIME')
try('SET', 'SET', KEYS[5], 'x', 'XX')
try('PEXPIRE', 'PEXPIRE', KEYS[5], '1000')
try('DEL', 'DEL', KEYS[5])
return denied
`

func (d *doctor) probeACL(ctx context.Context, user string) result {
	k := lease.KeysOf(d.ns)
	keys := []string{k.Meta(), k.Epoch(), k.HWM(), k.Lease(0), probeKey(d.ns)}
	who := "this user"
	if user != "" {
		who = fmt.Sprintf("user %q", user)
	}
	var denied []string
	note := func(cmd string, err error) {
		if isPermissionError(err) {
			denied = append(denied, fmt.Sprintf("%s: %v", cmd, err))
		}
	}
	note("TIME", d.client.Time(ctx).Err())
	note("INFO", d.client.Info(ctx, "replication").Err())
	note("EVALSHA", d.client.EvalSha(ctx, zeroSHA, keys[:4]).Err())
	reply, err := d.client.Eval(ctx, probeScript, keys).StringSlice()
	switch {
	case isPermissionError(err):
		note("EVAL", err)
	case err != nil:
		return result{"acl", warn, fmt.Sprintf("could not probe the commands inside the lease scripts: %v", err)}
	default:
		denied = append(denied, reply...)
	}
	if d.minReplicas >= 0 {
		note("WAIT", d.client.Do(ctx, "wait", 0, 0).Err())
	}
	if len(denied) > 0 {
		return result{"acl", failed, fmt.Sprintf("%s may not run what idgen needs; allow the commands and the key "+
			"pattern ~%s (see docs/operations.md):\n%s", who, lease.KeysOf(d.ns).Pattern(), strings.Join(denied, "\n"))}
	}
	return result{"acl", warn, fmt.Sprintf("%s may run the probed commands (EVALSHA, EVAL, TIME, INFO, WAIT, and in scripts "+
		"TYPE, GET, MGET, HGET, HMGET, SET, PEXPIRE, DEL), but HSET could not be checked without ACL DRYRUN; "+
		"allow ACL WHOAMI and ACL DRYRUN for a full check", who)}
}
