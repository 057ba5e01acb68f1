package lease

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
			noErr(t, err)
			equal(t, o.RenewInterval, ManualRenewal, "RenewInterval")
			equal(t, o.ReplicaTimeout, tc.replica, "ReplicaTimeout")
			equal(t, o.Window, o.TTL, "Window")
		})
	}
	_, err := Options{RenewInterval: ManualRenewal, OpTimeout: 100 * time.Millisecond, ReplicaTimeout: 100 * time.Millisecond}.resolve()
	var oe *OptionError
	must(t, errors.As(err, &oe) && oe.Field == "ReplicaTimeout", "ReplicaTimeout = OpTimeout accepted with manual renewals: %v", err)
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
	o.RenewInterval = ManualRenewal
	l := mustAcquire(t, c, o)
	g := newFakeGen(l)
	l.Bind(g)
	first := l.Fence()

	// Longer than the default interval (TTL/3): no background renewal.
	time.Sleep(o.TTL / 2)
	calls := hook.calls.Load()
	time.Sleep(o.TTL / 4)
	equal(t, hook.calls.Load(), calls, "script calls without Renew")
	equal(t, l.Stats().Renewals, uint64(0), "Renewals")
	equal(t, l.Fence(), first, "fence without Renew")

	noErr(t, l.Renew(ctx))
	second := l.Fence()
	check(t, second > first, "fence did not rise: %d then %d", first, second)
	check(t, hwmOf(t, admin, "manual", l.WorkerID()) >= second, "HWM below the new fence")
	equal(t, g.fence, second, "target's fence")
	equal(t, l.Stats().Renewals, uint64(1), "Renewals")

	// A failed renewal: the error comes back, the fence stays, the lease
	// stays live.
	hook.block.Store(true)
	time.Sleep(5 * time.Millisecond)
	err := l.Renew(ctx)
	errIs(t, err, errInjected)
	check(t, !errors.Is(err, ErrLeaseLost), "a failed call reported as a loss: %v", err)
	noErr(t, l.Err())
	equal(t, l.Fence(), second, "fence after a failed renewal")
	equal(t, l.Stats().ConsecutiveFailures, uint64(1), "ConsecutiveFailures")
	hook.block.Store(false)

	// The key taken by someone else: the lease is lost and says so.
	noErr(t, admin.Set(ctx, l.keys.lease(l.WorkerID()), "intruder", 0).Err())
	err = l.Renew(ctx)
	errIs(t, err, ErrLeaseLost)
	check(t, strings.Contains(err.Error(), "another token"), "reason: %v", err)
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed after the loss")
	}
	check(t, g.Stopped(), "target not stopped")
	errIs(t, l.Renew(ctx), ErrLeaseLost) // and stays so, without a call
}

// Renew works alongside the background loop, and after Release it returns
// ErrClosed without calling Redis.
func TestRenewNowAndAfterClose(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c, hook := hookedClient(t, srv)
	o := testOpts("renewnow", layout64)
	o.TTL = 10 * time.Second // the loop's first renewal is seconds away
	l := mustAcquire(t, c, o)
	first := l.Fence()
	time.Sleep(5 * time.Millisecond)
	noErr(t, l.Renew(context.Background()))
	check(t, l.Fence() > first, "fence did not rise")
	equal(t, l.Stats().Renewals, uint64(1), "Renewals")

	noErr(t, l.Close(context.Background()))
	calls := hook.calls.Load()
	errIs(t, l.Renew(context.Background()), ErrClosed)
	equal(t, hook.calls.Load(), calls, "script calls after Close")
}

// A manual lease that is not renewed expires like any other: the next
// Renew finds the key gone.
func TestManualLeaseExpires(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("manualexp", oneWorker)
	o.TTL, o.RenewInterval = 200*time.Millisecond, ManualRenewal
	l := mustAcquire(t, c, o)
	time.Sleep(o.TTL + 100*time.Millisecond)
	err := l.Renew(context.Background())
	errIs(t, err, ErrLeaseLost)
	check(t, strings.Contains(err.Error(), "expired"), "reason: %v", err)
}
