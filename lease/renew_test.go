package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
)

func TestOptionsManualRenewal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		opts    Options
		replica time.Duration
	}{
		{"ManualRenewal", Options{RenewInterval: ManualRenewal}, time.Second},
		{"any negative value", Options{RenewInterval: -5 * time.Second}, time.Second},
		// Without an interval only OpTimeout bounds WAIT.
		{"short OpTimeout", Options{RenewInterval: ManualRenewal, OpTimeout: 100 * time.Millisecond}, 50 * time.Millisecond},
		{"ReplicaTimeout above TTL/3", Options{TTL: time.Second, RenewInterval: ManualRenewal, ReplicaTimeout: 1500 * time.Millisecond}, 1500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := tc.opts.resolve()
			require.NoError(t, err)
			assert.Equal(t, ManualRenewal, o.RenewInterval, "RenewInterval")
			assert.Equal(t, tc.replica, o.ReplicaTimeout, "ReplicaTimeout")
			assert.Equal(t, o.TTL, o.Window, "Window")
		})
	}
	_, err := Options{RenewInterval: ManualRenewal, OpTimeout: 100 * time.Millisecond, ReplicaTimeout: 100 * time.Millisecond}.resolve()
	var oe *OptionError
	require.True(t, errors.As(err, &oe) && oe.Field == "ReplicaTimeout", "ReplicaTimeout = OpTimeout accepted with manual renewals: %v", err)
}

// With ManualRenewal nothing renews in the background; Renew raises the
// fence (HWM first), keeps the old one on failure, and reports a loss.
func TestManualRenew(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c, hook := hookedClient(t, srv)
	admin := srv.Client(t)
	ctx := context.Background()
	o := testOpts("manual", layout64)
	o.TTL = 10 * time.Second // real time: the key must not expire while the test runs
	o.RenewInterval = ManualRenewal
	f := inVirtualTime(t, c, &o)
	l := mustAcquire(t, c, o)
	g := newFakeGen(l)
	l.Bind(g)
	first := l.Fence()
	assert.Equal(t, layout64.Tick(f.Now())+l.window, first, "fence at acquire")

	// Well past the default interval (TTL/3): no timer, no background
	// renewal.
	calls := hook.calls.Load()
	assert.Zero(t, f.Timers(), "a timer armed with ManualRenewal")
	f.Advance(o.TTL * 3 / 4)
	assert.Equal(t, calls, hook.calls.Load(), "script calls without Renew")
	assert.Equal(t, uint64(0), l.Stats().Renewals, "Renewals")
	assert.Equal(t, first, l.Fence(), "fence without Renew")

	require.NoError(t, l.Renew(ctx))
	second := l.Fence()
	assert.Equal(t, first+layout64.Ticks(o.TTL*3/4), second, "the fence moves with the clock")
	assert.GreaterOrEqual(t, hwmOf(t, admin, "manual", l.WorkerID()), second, "HWM below the new fence")
	assert.Equal(t, second, g.Fence(), "target's fence")
	assert.Equal(t, uint64(1), l.Stats().Renewals, "Renewals")
	assert.Equal(t, f.Now(), l.Stats().LastRenew, "LastRenew")

	// A failed renewal: the error comes back, the fence stays, the lease
	// stays live.
	hook.block.Store(true)
	f.Advance(5 * time.Millisecond)
	err := l.Renew(ctx)
	require.ErrorIs(t, err, errInjected)
	assert.NotErrorIs(t, err, ErrLeaseLost, "a failed call reported as a loss")
	require.NoError(t, l.Err())
	assert.Equal(t, second, l.Fence(), "fence after a failed renewal")
	assert.Equal(t, uint64(1), l.Stats().ConsecutiveFailures, "ConsecutiveFailures")
	hook.block.Store(false)

	// The key taken by someone else: the lease is lost and says so.
	require.NoError(t, admin.Set(ctx, l.keys.Lease(l.WorkerID()), "intruder", 0).Err())
	err = l.Renew(ctx)
	require.ErrorIs(t, err, ErrLeaseLost)
	assert.Contains(t, err.Error(), "another token", "reason")
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed after the loss")
	}
	assert.True(t, g.Stopped(), "target not stopped")
	require.ErrorIs(t, l.Renew(ctx), ErrLeaseLost) // and stays so, without a call
}

// Renew works alongside the background loop, and after Release it returns
// ErrClosed without calling Redis; the loop's timer is gone.
func TestRenewNowAndAfterClose(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c, hook := hookedClient(t, srv)
	o := testOpts("renewnow", layout64)
	o.TTL = 10 * time.Second
	f := inVirtualTime(t, c, &o)
	l := mustAcquire(t, c, o)
	first := l.Fence()
	require.NoError(t, f.BlockUntil(context.Background(), 1), "the loop's timer")
	f.Advance(5 * time.Millisecond) // the loop's first renewal is far away
	require.NoError(t, l.Renew(context.Background()))
	assert.Equal(t, first+5, l.Fence(), "fence after Renew")
	assert.Equal(t, uint64(1), l.Stats().Renewals, "Renewals")

	require.NoError(t, l.Close(context.Background()))
	assert.Zero(t, f.Timers(), "the loop's timer after Close")
	calls := hook.calls.Load()
	require.ErrorIs(t, l.Renew(context.Background()), ErrClosed)
	assert.Equal(t, calls, hook.calls.Load(), "script calls after Close")
}

// A manual lease that is not renewed expires in Redis like any other: the
// next Renew finds the key gone.
func TestManualLeaseExpires(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("manualexp", oneWorker)
	o.TTL, o.RenewInterval = 200*time.Millisecond, ManualRenewal
	l := mustAcquire(t, c, o)
	// Redis expires the key in its own (real) time.
	require.Eventually(t, func() bool { return c.Exists(context.Background(), l.keys.Lease(l.WorkerID())).Val() == 0 },
		5*time.Second, 10*time.Millisecond, "the key did not expire")
	err := l.Renew(context.Background())
	require.ErrorIs(t, err, ErrLeaseLost)
	assert.Contains(t, err.Error(), "expired", "reason")
}
