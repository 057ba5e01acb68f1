// Package miniserver makes a miniredis server show what the lease scripts
// read from a real Redis with INFO: the server's run_id, its replication
// IDs, its connected replicas and its maxmemory-policy. miniredis answers
// only the clients and stats sections; without this the scripts refuse to
// run (they cannot tell a restart from a renewal).
//
// The identity is a value the caller moves on, so that a simulation can
// play a restart (a new process) or a promotion (a replica taking over)
// without a real server. IDs are counters, so runs replay exactly; each
// identity counts in its own range, so two identities never show the same
// run_id or replication ID (as two real servers never do).
package miniserver

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// Identity is the server identity one miniredis shows. Safe for concurrent
// use.
type Identity struct {
	mu       sync.Mutex
	base     uint64 // this identity's ID range
	next     uint64
	run      string
	replid   string
	replid2  string
	replicas int
	policy   string
}

const zeroID = "0000000000000000000000000000000000000000"

// identities numbers the identities of the process: each one's IDs are
// counters in a range of its own.
var identities atomic.Uint64

// Install answers INFO server, replication and memory on m with a new
// identity: a master with no replicas and maxmemory-policy noeviction.
// It takes m's pre-hook. A miniredis that was not started (one used only
// through Dial) is started without a listener first.
func Install(m *miniredis.Miniredis) *Identity {
	id := &Identity{policy: "noeviction", base: identities.Add(1) << 32}
	id.Restart()
	if m.Server() == nil {
		if c, err := m.Dial(); err == nil { // starts the server, on no port
			_ = c.Close()
		}
	}
	m.Server().SetPreHook(id.hook)
	return id
}

func (id *Identity) newID() string {
	id.next++
	return fmt.Sprintf("%040x", id.base+id.next)
}

// Restart makes the server look like a new process: a new run_id and a new
// replication ID, as redis-server has after every start.
func (id *Identity) Restart() {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.run, id.replid, id.replid2 = id.newID(), id.newID(), zeroID
}

// Promote makes the server look like a replica that was just promoted: a
// server other than the last one (a new run_id) whose old replication ID
// moved to master_replid2.
func (id *Identity) Promote() {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.run, id.replid2, id.replid = id.newID(), id.replid, id.newID()
}

// Follow makes the server look like a replica of master: it takes
// master's replication ID (as a replica does when it syncs), keeping its
// own run_id, so that a later Promote moves master's history to
// master_replid2, as in a real failover.
func (id *Identity) Follow(master *Identity) {
	replid := master.replID()
	id.mu.Lock()
	defer id.mu.Unlock()
	id.replid, id.replid2 = replid, zeroID
}

// Assume makes the server show exactly o's run_id and replication IDs: a
// server INFO cannot tell from o. Only for tests of what the lease would
// miss without the identity.
func (id *Identity) Assume(o *Identity) {
	o.mu.Lock()
	run, replid, replid2 := o.run, o.replid, o.replid2
	o.mu.Unlock()
	id.mu.Lock()
	defer id.mu.Unlock()
	id.run, id.replid, id.replid2 = run, replid, replid2
}

func (id *Identity) replID() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.replid
}

// SetReplicas sets connected_slaves.
func (id *Identity) SetReplicas(n int) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.replicas = n
}

// SetPolicy sets maxmemory_policy.
func (id *Identity) SetPolicy(p string) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.policy = p
}

// Incarnation is run_id:master_replid, as the lease scripts stamp it.
func (id *Identity) Incarnation() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.run + ":" + id.replid
}

// ReplID2 is master_replid2: the replication ID of the master this server
// replicated before it was promoted, or "" if none.
func (id *Identity) ReplID2() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.replid2 == zeroID {
		return ""
	}
	return id.replid2
}

// RunID is the current run_id.
func (id *Identity) RunID() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.run
}

func (id *Identity) hook(c *server.Peer, cmd string, args ...string) bool {
	if cmd != "INFO" || len(args) != 1 {
		return false
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	switch strings.ToLower(args[0]) {
	case "server":
		c.WriteBulk("# Server\r\nredis_version:7.0.15\r\nrun_id:" + id.run + "\r\n")
	case "replication":
		c.WriteBulk(fmt.Sprintf("# Replication\r\nrole:master\r\nconnected_slaves:%d\r\n"+
			"master_replid:%s\r\nmaster_replid2:%s\r\n", id.replicas, id.replid, id.replid2))
	case "memory":
		c.WriteBulk("# Memory\r\nmaxmemory_policy:" + id.policy + "\r\n")
	default:
		return false
	}
	return true
}
