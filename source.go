package idgen

import "github.com/snowlease/idgen/snowflake"

// Source is what code that needs IDs should accept: *Generator, a plain
// *snowflake.Generator and the test kit's generator (package idgentest)
// all satisfy it, so a service takes a Source and its unit tests pass
// idgentest.New(t) instead of a Redis-backed Generator. Implementations
// must be safe for concurrent use, as those three are.
type Source interface {
	// Next returns a new ID, greater than every ID the Source returned
	// before.
	Next() (snowflake.ID, error)
	// NextN fills dst with new, increasing IDs and returns how many.
	NextN(dst []snowflake.ID) (int, error)
	// Layout is the bit layout of the IDs.
	Layout() snowflake.Layout
}

var (
	_ Source = (*Generator)(nil)
	_ Source = (*snowflake.Generator)(nil)
)
