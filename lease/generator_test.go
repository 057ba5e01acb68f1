package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

var _ Fenced = (*snowflake.Generator)(nil)

// newGenerator is a real generator on the lease's clock, bound to it.
func newGenerator(t *testing.T, l *Lease) *snowflake.Generator {
	t.Helper()
	g, err := snowflake.New(l.opts.Layout, l.WorkerID(),
		snowflake.Options{Clock: l.opts.Clock, StartAfter: l.StartAfter(), Fence: l.Fence()})
	require.NoError(t, err)
	l.Bind(g)
	return g
}

// issue calls Next in virtual time: it first moves f past startAfter (a
// generator waits for its clock to get there), then issues three IDs a
// tick, advancing f one tick after each three, until f reaches until or the
// generator refuses for good (stopped, or fenced after having issued
// something).
func issue(f *clock.Fake, g *snowflake.Generator, lay snowflake.Layout, startAfter int64, until time.Time) []snowflake.ID {
	if ahead := lay.Time(startAfter + 1).Sub(f.Now()); ahead > 0 {
		f.Advance(ahead)
	}
	var ids []snowflake.ID
	for f.Now().Before(until) {
		for range 3 {
			id, err := g.Next()
			switch {
			case err == nil:
				ids = append(ids, id)
			case errors.Is(err, snowflake.ErrStopped), errors.Is(err, snowflake.ErrFenced) && len(ids) > 0:
				return ids
			}
		}
		f.Advance(lay.TimeUnit)
	}
	return ids
}

// The takeover with the real generator: the old holder, its renewals
// blocked, issues until its fence, past its key's expiry; the new holder's
// IDs are all above, and no ID is issued twice. The generators and the
// renewals run in virtual time; the key expires in Redis' real time.
func TestRealGeneratorTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for a real lease key to expire in Redis; runs without -short")
	}
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	ca, hook := hookedClient(t, srv)
	o := testOpts("realgen", oneWorker)
	o.TTL = time.Second // the real wait for A's key to expire
	o.Window = 2 * o.TTL
	f := inVirtualTime(t, ca, &o)
	a := mustAcquire(t, ca, o)
	ga := newGenerator(t, a)
	renew(t, f, a)
	require.Equal(t, uint64(1), a.Stats().Renewals, "A's renewal")

	hook.block.Store(true)
	renew(t, f, a)
	require.Equal(t, uint64(1), a.Stats().ConsecutiveFailures, "A's renewals not blocked")
	lastRenew := a.Stats().LastRenew
	b := acquireWhenFree(t, srv.Client(t), o, 5*time.Second)
	gb := newGenerator(t, b)
	require.Equal(t, a.Fence(), b.StartAfter(), "B starts above A's fence")

	idsA := issue(f, ga, oneWorker, a.StartAfter(), oneWorker.Time(a.Fence()+10))
	idsB := issue(f, gb, oneWorker, b.StartAfter(), oneWorker.Time(b.StartAfter()).Add(50*time.Millisecond))

	require.NotEmpty(t, idsA, "A issued nothing")
	require.NotEmpty(t, idsB, "B issued nothing")
	lastA := oneWorker.Decompose(idsA[len(idsA)-1]).Tick
	assert.True(t, oneWorker.Time(lastA).After(lastRenew.Add(o.TTL)), "A stopped before its key could expire")
	assert.Equal(t, a.Fence(), lastA, "A issued up to its fence")
	assert.LessOrEqual(t, lastA, b.StartAfter(), "A's last tick above B's start")
	assert.Less(t, idsA[len(idsA)-1], idsB[0], "A's last ID not below B's first")
	seen := make(map[snowflake.ID]bool, len(idsA)+len(idsB))
	for _, id := range append(idsA, idsB...) {
		require.False(t, seen[id], "ID %d issued twice", id)
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
	o.TTL = 10 * time.Second
	f := inVirtualTime(t, c, &o)
	a := mustAcquire(t, c, o)
	ga := newGenerator(t, a)
	idsA := issue(f, ga, oneWorker, a.StartAfter(), f.Now().Add(30*time.Millisecond))
	require.Len(t, idsA, 90, "three IDs a tick for 30 ticks")
	require.NoError(t, a.Close(context.Background()))
	_, err := ga.Next()
	require.ErrorIs(t, err, snowflake.ErrStopped)
	assert.Equal(t, ga.LastTick(), hwmOf(t, c, "realrel", 0), "released HWM")

	b := mustAcquire(t, c, o)
	assert.Equal(t, ga.LastTick(), b.StartAfter(), "B starts after A's last tick")
	gb := newGenerator(t, b)
	id, err := gb.Next()
	require.NoError(t, err)
	assert.Greater(t, id, idsA[len(idsA)-1], "B's first ID not above A's last")
}
