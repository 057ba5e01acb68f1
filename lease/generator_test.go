package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

var _ Fenced = (*snowflake.Generator)(nil)

func newGenerator(t *testing.T, l *Lease) *snowflake.Generator {
	t.Helper()
	g, err := snowflake.New(l.opts.Layout, l.WorkerID(), snowflake.Options{StartAfter: l.StartAfter(), Fence: l.Fence()})
	noErr(t, err)
	l.Bind(g)
	return g
}

// issue calls Next until stop closes, the generator refuses for good
// (stopped, or fenced after having issued something), or 10s pass.
func issue(g *snowflake.Generator, stop <-chan struct{}) []snowflake.ID {
	var ids []snowflake.ID
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			return ids
		default:
		}
		id, err := g.Next()
		switch {
		case err == nil:
			ids = append(ids, id)
		case errors.Is(err, snowflake.ErrStopped), errors.Is(err, snowflake.ErrFenced) && len(ids) > 0:
			return ids
		default:
			time.Sleep(100 * time.Microsecond)
		}
	}
	return ids
}

// The takeover with the real generator: the old holder, its renewals
// blocked, issues until its fence, past its key's expiry; the new holder's
// IDs are all above, and no ID is issued twice.
func TestRealGeneratorTakeover(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	ca, hook := hookedClient(t, srv)
	o := testOpts("realgen", oneWorker)
	o.Window = 2 * o.TTL
	a := mustAcquire(t, ca, o)
	ga := newGenerator(t, a)
	// Past the start, with a fence ahead: A issues before its renewals stop.
	waitPast(oneWorker, a.StartAfter())
	eventually(t, 3*time.Second, func() bool { return a.Fence() > oneWorker.Tick(time.Now())+200 }, "fence not ahead")

	doneA := make(chan []snowflake.ID)
	go func() { doneA <- issue(ga, nil) }()
	hook.block.Store(true)
	eventually(t, 2*time.Second, func() bool { return a.Stats().ConsecutiveFailures > 0 }, "renewals not blocked")
	lastRenew := a.Stats().LastRenew
	b := acquireWhenFree(t, srv.Client(t), o, 3*time.Second)
	gb := newGenerator(t, b)
	idsA := <-doneA
	stop := make(chan struct{})
	time.AfterFunc(time.Until(oneWorker.Time(b.StartAfter()))+50*time.Millisecond, func() { close(stop) })
	idsB := issue(gb, stop)

	must(t, len(idsA) > 0 && len(idsB) > 0, "A issued %d IDs, B %d", len(idsA), len(idsB))
	lastA := oneWorker.Decompose(idsA[len(idsA)-1]).Tick
	check(t, oneWorker.Time(lastA).After(lastRenew.Add(o.TTL)), "A stopped before its key could expire")
	check(t, lastA <= b.StartAfter(), "A's last tick %d above B's start %d", lastA, b.StartAfter())
	check(t, idsA[len(idsA)-1] < idsB[0], "A's last ID %d not below B's first %d", idsA[len(idsA)-1], idsB[0])
	seen := make(map[snowflake.ID]bool, len(idsA)+len(idsB))
	for _, id := range append(idsA, idsB...) {
		must(t, !seen[id], "ID %d issued twice", id)
		seen[id] = true
	}
}

// Release with the real generator: stopped first, HWM = LastTick, and the
// next holder's IDs come after the released ones.
func TestRealGeneratorRelease(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("realrel", oneWorker)
	a := mustAcquire(t, c, o)
	ga := newGenerator(t, a)
	stop := make(chan struct{})
	time.AfterFunc(time.Until(oneWorker.Time(a.StartAfter()))+30*time.Millisecond, func() { close(stop) })
	idsA := issue(ga, stop)
	noErr(t, a.Close(context.Background()))
	_, err := ga.Next()
	errIs(t, err, snowflake.ErrStopped)
	equal(t, hwmOf(t, c, "realrel", 0), ga.LastTick(), "released HWM")

	b := mustAcquire(t, c, o)
	gb := newGenerator(t, b)
	id, err := gb.Next()
	noErr(t, err)
	check(t, id > idsA[len(idsA)-1], "B's first ID %d not above A's last %d", id, idsA[len(idsA)-1])
}
