package idgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// TestOptionErrorEveryPackage: each package's option errors match its own
// ErrInvalidOptions (and the specific sentinel where there is one), and
// errors.As finds them with any package's OptionError, which are one type.
// None of these calls reaches the network.
func TestOptionErrorEveryPackage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	badLayout := snowflake.Layout{Epoch: time.UnixMilli(0), TimeUnit: time.Millisecond, TimeBits: 40, WorkerBits: 10, SequenceBits: 10}
	for _, tc := range []struct {
		name     string
		call     func() error
		invalid  error // the package's ErrInvalidOptions
		field    string
		specific error // the sentinel behind it, if any
	}{
		{"snowflake worker", func() error {
			_, err := snowflake.New(snowflake.Twitter(), 5000, snowflake.Options{})
			return err
		}, snowflake.ErrInvalidOptions, "worker ID", snowflake.ErrWorkerRange},
		{"snowflake fence", func() error {
			_, err := snowflake.New(snowflake.Twitter(), 1, snowflake.Options{Fence: -1})
			return err
		}, snowflake.ErrInvalidOptions, "Options.Fence", nil},
		{"lease TTL", func() error { return lease.Options{TTL: time.Millisecond}.Validate() },
			lease.ErrInvalidOptions, "TTL", nil},
		{"lease layout", func() error { return lease.Options{Layout: badLayout}.Validate() },
			lease.ErrInvalidOptions, "Layout", snowflake.ErrBitWidths},
		{"lease client", func() error {
			_, err := lease.Acquire(ctx, nil, lease.Options{})
			return err
		}, lease.ErrInvalidOptions, "client", nil},
		{"clockguard samples", func() error { return clockguard.Options{Samples: -1}.Validate() },
			clockguard.ErrInvalidOptions, "Samples", nil},
		{"clockguard layout", func() error {
			return clockguard.Options{Layout: badLayout, HWM: func() int64 { return 0 }}.Validate()
		}, clockguard.ErrInvalidOptions, "Layout", snowflake.ErrBitWidths},
		{"clockguard client", func() error {
			_, err := clockguard.Check(ctx, nil, clockguard.Options{})
			return err
		}, clockguard.ErrInvalidOptions, "client", nil},
		{"idgen TTL", func() error { return idgen.Options{TTL: -time.Second}.Validate() },
			idgen.ErrInvalidOptions, "TTL", nil},
		{"idgen layout", func() error { return idgen.Options{Layout: badLayout}.Validate() },
			idgen.ErrInvalidOptions, "Layout", snowflake.ErrBitWidths},
		{"idgen client", func() error {
			_, err := idgen.New(ctx, nil, idgen.Options{})
			return err
		}, idgen.ErrInvalidOptions, "client", nil},
		{"idgen passes the lease's on", func() error { return idgen.Options{TTL: time.Millisecond}.Validate() },
			lease.ErrInvalidOptions, "TTL", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call()
			require.ErrorIs(t, err, tc.invalid)
			if tc.specific != nil {
				assert.ErrorIs(t, err, tc.specific)
			}
			// One type under four names.
			var s *snowflake.OptionError
			var l *lease.OptionError
			var c *clockguard.OptionError
			var i *idgen.OptionError
			require.ErrorAs(t, err, &s)
			require.ErrorAs(t, err, &l)
			require.ErrorAs(t, err, &c)
			require.ErrorAs(t, err, &i)
			assert.Same(t, s, i)
			assert.Equal(t, tc.field, i.Field)
			assert.ErrorContains(t, err, tc.field+" is ")
			assert.ErrorContains(t, err, ", allowed ")
			t.Log(err)
		})
	}
}
