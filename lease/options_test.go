package lease

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/snowflake"
)

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, err := Options{}.resolve()
	require.NoError(t, err)
	assert.Equal(t, "idgen", o.Namespace, "Namespace")
	assert.Equal(t, snowflake.Twitter(), o.Layout, "Layout")
	assert.Equal(t, 10*time.Second, o.TTL, "TTL")
	assert.Equal(t, 10*time.Second, o.Window, "Window")
	assert.Equal(t, 10*time.Second/3, o.RenewInterval, "RenewInterval")
	assert.Equal(t, time.Second, o.MaxSkew, "MaxSkew")
	assert.Equal(t, 12*time.Second, o.MaxStartWait, "MaxStartWait")
	assert.Equal(t, 2*time.Second, o.OpTimeout, "OpTimeout")
	assert.Equal(t, time.Second, o.ReplicaTimeout, "ReplicaTimeout")
	assert.True(t, o.Host != "" && !strings.Contains(o.Host, "|"), "Host %q", o.Host)
	assert.True(t, o.Clock != nil, "Clock not set")

	short, err := Options{TTL: 300 * time.Millisecond}.resolve()
	require.NoError(t, err)
	assert.Equal(t, 100*time.Millisecond, short.RenewInterval, "RenewInterval for a 300ms TTL")
	assert.Equal(t, 50*time.Millisecond, short.ReplicaTimeout, "ReplicaTimeout for a 300ms TTL")
}

func TestOptionsInvalid(t *testing.T) {
	t.Parallel()
	badLayout := snowflake.Twitter()
	badLayout.TimeBits = 40
	cases := []struct {
		name  string
		opts  Options
		field string
	}{
		{"namespace with braces", Options{Namespace: "a{b}"}, "Namespace"},
		{"namespace with space", Options{Namespace: "a b"}, "Namespace"},
		{"namespace with glob", Options{Namespace: "a*"}, "Namespace"},
		{"namespace too long", Options{Namespace: strings.Repeat("n", 65)}, "Namespace"},
		{"TTL too short", Options{TTL: 50 * time.Millisecond}, "TTL"},
		{"TTL negative", Options{TTL: -time.Second}, "TTL"},
		{"TTL too long", Options{TTL: 25 * time.Hour}, "TTL"},
		{"RenewInterval too short", Options{RenewInterval: 5 * time.Millisecond}, "RenewInterval"},
		{"RenewInterval above TTL/2", Options{TTL: time.Second, RenewInterval: 600 * time.Millisecond}, "RenewInterval"},
		{"Window below TTL/2", Options{TTL: time.Second, Window: 400 * time.Millisecond}, "Window"},
		{"Window not above RenewInterval", Options{TTL: time.Second, RenewInterval: 500 * time.Millisecond, Window: 500 * time.Millisecond}, "Window"},
		{"Window too long", Options{Window: 25 * time.Hour}, "Window"},
		{"MinReplicas below NoReplicaWait", Options{MinReplicas: -2}, "MinReplicas"},
		{"MinReplicas too many", Options{MinReplicas: 101}, "MinReplicas"},
		{"ReplicaTimeout not below RenewInterval", Options{TTL: time.Second, ReplicaTimeout: 400 * time.Millisecond}, "ReplicaTimeout"},
		{"ReplicaTimeout not below OpTimeout", Options{OpTimeout: 100 * time.Millisecond, ReplicaTimeout: 100 * time.Millisecond}, "ReplicaTimeout"},
		{"ReplicaTimeout below 1ms", Options{ReplicaTimeout: time.Microsecond}, "ReplicaTimeout"},
		{"MaxSkew too small", Options{MaxSkew: 500 * time.Microsecond}, "MaxSkew"},
		{"MaxSkew too large", Options{MaxSkew: 2 * time.Hour}, "MaxSkew"},
		{"MaxStartWait negative", Options{MaxStartWait: -time.Second}, "MaxStartWait"},
		{"MaxStartWait too long", Options{MaxStartWait: 25 * time.Hour}, "MaxStartWait"},
		{"OpTimeout too short", Options{OpTimeout: 5 * time.Millisecond}, "OpTimeout"},
		{"OpTimeout too long", Options{OpTimeout: 2 * time.Minute}, "OpTimeout"},
		{"Host with separator", Options{Host: "a|b"}, "Host"},
		{"Host too long", Options{Host: strings.Repeat("h", 256)}, "Host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.opts.resolve()
			require.ErrorIs(t, err, ErrInvalidOptions)
			var oe *OptionError
			require.True(t, errors.As(err, &oe), "not an *OptionError: %v", err)
			assert.Equal(t, tc.field, oe.Field, "field")
			assert.True(t, strings.Contains(err.Error(), tc.field) && strings.Contains(err.Error(), "allowed"), "message does not name the field and range: %v", err)
		})
	}
	t.Run("layout", func(t *testing.T) {
		t.Parallel()
		_, err := Options{Layout: badLayout}.resolve()
		require.ErrorIs(t, err, ErrInvalidOptions)
		require.ErrorIs(t, err, snowflake.ErrBitWidths)
	})
}
