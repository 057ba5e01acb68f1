package lease

import (
	"fmt"
	"strings"
)

// ACLNeed is one Redis command that a user of the package needs its Redis
// ACL user to be allowed, with what it is for. The commands inside the lease
// scripts are needed too: scripts run with the caller's permissions.
type ACLNeed struct {
	// Command is the command as an ACL rule names it: "+" + Command allows it.
	Command string
	// Calls are typical calls of the command, with the namespace's keys it
	// touches, for ACL DRYRUN to check the command and its key permissions
	// without running it. Every key is under the namespace's Pattern.
	Calls [][]string
	// Use says when it is needed.
	Use ACLUse
	// Why is what the package runs it for.
	Why string
}

// ACLUse says when an ACLNeed is needed.
type ACLUse int

const (
	// ACLAlways: every lease runs it (the scripts, the calls around them,
	// the clock checks).
	ACLAlways ACLUse = iota
	// ACLReplicas: while the namespace's server has replicas, unless
	// Options.MinReplicas is NoReplicaWait.
	ACLReplicas
	// ACLList: only List (and `idgen leases`) runs it.
	ACLList
	// ACLConnect: go-redis sends it when it opens a connection.
	ACLConnect
)

// ACL lists what the Redis ACL user of namespace k needs, one command each,
// on the key pattern "~" + k.Pattern(). docs/operations.md prints it as an
// ACL SETUSER line (a test keeps the two equal), `idgen doctor` checks it
// with ACL DRYRUN, and a permission error names it.
func (k Keys) ACL() []ACLNeed {
	meta, epoch, hwm, l0, l1 := k.Meta(), k.Epoch(), k.HWM(), k.Lease(0), k.Lease(1)
	const inScripts = "inside the lease scripts"
	return []ACLNeed{
		{"evalsha", [][]string{{"evalsha", strings.Repeat("0", 40), "4", meta, epoch, hwm, l0}}, ACLAlways,
			"runs the lease scripts"},
		{"eval", [][]string{{"eval", "return 1", "4", meta, epoch, hwm, l0}}, ACLAlways, "loads a lease script after SCRIPT FLUSH, a restart or a failover"},
		{"time", [][]string{{"time"}}, ACLAlways, "clock checks, and the scripts' clock"},
		{"info", [][]string{{"info", "replication"}}, ACLAlways,
			"the scripts notice a restart or a failover by the server's identity"},
		{"type", [][]string{{"type", meta}}, ACLAlways, inScripts},
		{"exists", [][]string{{"exists", epoch, hwm}}, ACLAlways, inScripts + ", Init and List"},
		{"get", [][]string{{"get", epoch}, {"get", l0}}, ACLAlways, inScripts},
		{"mget", [][]string{{"mget", l0, l1}}, ACLAlways, inScripts},
		{"set", [][]string{{"set", epoch, "x", "nx"}, {"set", l0, "x", "nx", "px", "1000"}}, ACLAlways, inScripts},
		{"pexpire", [][]string{{"pexpire", l0, "1000"}}, ACLAlways, inScripts},
		{"del", [][]string{{"del", l0}}, ACLAlways, inScripts},
		{"hget", [][]string{{"hget", meta, "layout"}}, ACLAlways, inScripts},
		{"hmget", [][]string{{"hmget", hwm, "0"}}, ACLAlways, inScripts},
		{"hset", [][]string{{"hset", hwm, "0", "1"}, {"hset", meta, "layout", "x"}}, ACLAlways, inScripts},
		{"wait", [][]string{{"wait", "1", "100"}}, ACLReplicas,
			"waiting for replicas (Options.MinReplicas NoReplicaWait turns it off)"},
		{"hgetall", [][]string{{"hgetall", meta}}, ACLList, "List (idgen leases)"},
		{"pttl", [][]string{{"pttl", l0}}, ACLList, "List (idgen leases)"},
		{"scan", [][]string{{"scan", "0", "match", k.LeasePrefix() + "*", "count", "1000"}}, ACLList,
			"List (idgen leases) above 65,536 worker IDs"},
		{"ping", [][]string{{"ping"}}, ACLConnect, "go-redis on connect"},
		{"hello", [][]string{{"hello", "3"}}, ACLConnect, "go-redis on connect"},
	}
}

// aclHint says what an ACL user needs, for a refusal inside a script,
// which does not say which command or key was refused.
func aclHint() string {
	k := KeysOf("<namespace>")
	var run, list []string
	for _, n := range k.ACL() {
		switch n.Use {
		case ACLAlways, ACLReplicas:
			run = append(run, "+"+n.Command)
		case ACLList:
			list = append(list, "+"+n.Command)
		}
	}
	return fmt.Sprintf("%s (%s for List) on keys ~%s", strings.Join(run, " "), strings.Join(list, " "), k.Pattern())
}
