package lease

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/snowlease/idgen/snowflake"
)

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o, err := Options{}.resolve()
	noErr(t, err)
	equal(t, o.Namespace, "idgen", "Namespace")
	equal(t, o.Layout, snowflake.Twitter(), "Layout")
	equal(t, o.TTL, 10*time.Second, "TTL")
	equal(t, o.Window, 10*time.Second, "Window")
	equal(t, o.RenewInterval, 10*time.Second/3, "RenewInterval")
	equal(t, o.MaxSkew, time.Second, "MaxSkew")
	equal(t, o.MaxStartWait, 12*time.Second, "MaxStartWait")
	equal(t, o.OpTimeout, 2*time.Second, "OpTimeout")
	equal(t, o.ReplicaTimeout, time.Second, "ReplicaTimeout")
	check(t, o.Host != "" && !strings.Contains(o.Host, "|"), "Host %q", o.Host)
	check(t, o.Clock != nil, "Clock not set")

	short, err := Options{TTL: 300 * time.Millisecond}.resolve()
	noErr(t, err)
	equal(t, short.RenewInterval, 100*time.Millisecond, "RenewInterval for a 300ms TTL")
	equal(t, short.ReplicaTimeout, 50*time.Millisecond, "ReplicaTimeout for a 300ms TTL")
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
			errIs(t, err, ErrInvalidOptions)
			var oe *OptionError
			must(t, errors.As(err, &oe), "not an *OptionError: %v", err)
			equal(t, oe.Field, tc.field, "field")
			check(t, strings.Contains(err.Error(), tc.field) && strings.Contains(err.Error(), "allowed"),
				"message does not name the field and range: %v", err)
		})
	}
	t.Run("layout", func(t *testing.T) {
		t.Parallel()
		_, err := Options{Layout: badLayout}.resolve()
		errIs(t, err, ErrInvalidOptions)
		errIs(t, err, snowflake.ErrBitWidths)
	})
}
