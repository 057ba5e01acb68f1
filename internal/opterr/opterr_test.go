package opterr_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/snowlease/idgen/internal/opterr"
)

var errSpecific = errors.New("pkg: specific")

func TestError(t *testing.T) {
	t.Parallel()
	errInvalid := errors.New("pkg: invalid options")
	for _, tc := range []struct {
		name string
		err  *opterr.Error
		want string
		is   []error
	}{
		{"option", opterr.New(errInvalid, "TTL", 5*time.Millisecond, "100ms to 24h", nil),
			"pkg: invalid options: TTL is 5ms, allowed 100ms to 24h", []error{errInvalid}},
		{"option with a cause", opterr.New(errInvalid, "Layout", "v1", "a valid layout", errSpecific),
			`pkg: invalid options: Layout is "v1", allowed a valid layout: pkg: specific`, []error{errInvalid, errSpecific}},
		{"not an option", opterr.New(nil, "Parts.Worker", int64(5000), "0 to 1023", errSpecific),
			"pkg: specific: Parts.Worker is 5000, allowed 0 to 1023", []error{errSpecific}},
		{"nil value", opterr.New(errInvalid, "client", nil, "a non-nil Redis client", nil),
			"pkg: invalid options: client is nil, allowed a non-nil Redis client", []error{errInvalid}},
		{"no allowed text", opterr.New(errInvalid, "Host", "a|b", "", nil),
			`pkg: invalid options: Host is "a|b"`, []error{errInvalid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.Error())
			assert.Len(t, tc.err.Unwrap(), len(tc.is))
			for _, target := range tc.is {
				assert.ErrorIs(t, tc.err, target)
			}
		})
	}
}
