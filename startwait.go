package idgen

import "time"

// WaitReason says why a start waits for the clock. It is a plain value,
// safe for concurrent use.
type WaitReason int

const (
	// WaitQuarantine: the namespace's start-up quarantine. The namespace
	// is new (Init avoids this wait), Redis lost its data, or Redis
	// restarted or failed over (another server incarnation). No holder
	// starts before Window + MaxSkew has passed since it was noticed.
	WaitQuarantine WaitReason = iota + 1
	// WaitHighWaterMark: the worker ID's high-water mark is ahead of this
	// node's clock: its previous holder crashed (or released without
	// issuing) within its Window, or this node's clock is behind.
	WaitHighWaterMark
)

func (r WaitReason) String() string {
	switch r {
	case WaitQuarantine:
		return "start-up quarantine (new namespace, lost Redis data, or a Redis restart or failover)"
	case WaitHighWaterMark:
		return "the worker ID's high-water mark is ahead of the clock"
	}
	return "unknown"
}

// StartWait describes a wait before a generator's first ID, given to
// Options.OnStartWait and logged. It is a plain value, safe for concurrent
// use.
type StartWait struct {
	Namespace string
	WorkerID  int64
	Reason    WaitReason
	Wait      time.Duration // how long, from the local clock
	Until     time.Time     // the start tick's time: the first ID comes after it
}
