// Package idgentest gives unit tests an ID generator without Redis: the
// same ID layout and interface (idgen.Source) as an idgen.Generator, ready
// at once, with no server, no lease and no start-up wait.
//
// Its IDs are unique and increasing within one generator only: each test
// generator uses a fixed worker ID and nothing coordinates two of them. Use
// it where a test needs IDs, not where it tests the uniqueness guarantee
// across nodes (that needs idgen.New against a real Redis).
package idgentest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// Options configure New. The zero value is the Twitter layout, worker 0
// and the real clock. It is a plain value, safe for concurrent use while
// nobody writes to it.
type Options struct {
	// Layout of the IDs. Default snowflake.Twitter().
	Layout snowflake.Layout
	// WorkerID goes into every ID; 0 to Layout.MaxWorker(). Default 0.
	WorkerID int64
	// Clock lets a test move time (snowflake.Clock); default the real one.
	Clock snowflake.Clock
}

// Generator is a test generator: a snowflake.Generator with no fence, plus
// the methods of idgen.Generator that a service calls besides Next. Safe
// for concurrent use. The zero value is not usable (its methods panic): a
// test generator comes from New, which ties it to the test.
type Generator struct {
	*snowflake.Generator
	closed atomic.Bool
}

var _ idgen.Source = (*Generator)(nil)

// New returns a generator for tb. A bad option fails tb at once. It is
// stopped when the test ends.
func New(tb testing.TB, opts ...Options) *Generator {
	tb.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	g, err := snowflake.New(o.Layout.OrDefault(), o.WorkerID, snowflake.Options{Clock: o.Clock})
	if err != nil {
		tb.Fatalf("idgentest.New: %v", err)
	}
	tb.Cleanup(g.Stop)
	return &Generator{Generator: g}
}

// Ready is nil until Close, then idgen.ErrClosed, as for idgen.Generator.
func (g *Generator) Ready() error {
	if g.closed.Load() {
		return idgen.ErrClosed
	}
	return nil
}

// Close stops the generator; later Next calls fail. It never fails.
func (g *Generator) Close(context.Context) error {
	g.closed.Store(true)
	g.Stop()
	return nil
}
