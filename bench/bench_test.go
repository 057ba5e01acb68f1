// Package bench compares idgen's snowflake.Generator with other ID
// generators, side by side in one run. It is a separate module so that the
// peers never become dependencies of the library. See docs/benchmarks.md.
//
//	go test -run '^$' -bench . -benchmem -count 5
package bench

import (
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	bw "github.com/bwmarrin/snowflake"
	"github.com/google/uuid"
	"github.com/oklog/ulid/v2"
	"github.com/rs/xid"
	"github.com/snowlease/idgen/snowflake"
	"github.com/sony/sonyflake/v2"
	"github.com/stretchr/testify/require"
)

// rawLayout has 22 sequence bits and no worker bits: 4,194,304 IDs per
// millisecond, more than a caller can take, so neither generator ever waits
// for the clock and the benchmark shows the cost of a call.
var rawLayout = snowflake.Layout{
	Epoch:        snowflake.Twitter().Epoch,
	TimeUnit:     time.Millisecond,
	TimeBits:     41,
	WorkerBits:   0,
	SequenceBits: 22,
}

// bwmarrin/snowflake keeps its layout in package globals that NewNode reads.
// They are set here once, before any benchmark runs, and never changed again:
// bwNode gets the default 10/12 layout (the same as snowflake.Twitter()), and
// bwRawNode the 0/22 layout of rawLayout.
var bwNode, bwRawNode *bw.Node

func TestMain(m *testing.M) {
	var err error
	if bwNode, err = bw.NewNode(1); err != nil {
		panic(err)
	}
	bw.NodeBits, bw.StepBits = 0, 22
	if bwRawNode, err = bw.NewNode(0); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// sink keeps results alive so that no call is optimised away.
var sink atomic.Int64

// gen is one ID generator under test; next returns something derived from
// the ID so that the call cannot be dropped.
type gen struct {
	name     string
	capacity float64 // IDs per second the layout allows; 0 when unbounded
	make     func(b *testing.B) func() int64
}

func peers() []gen {
	return []gen{
		{"idgen", snowflake.Twitter().Capacity(), func(b *testing.B) func() int64 {
			g := newGenerator(b, snowflake.Twitter(), 1)
			return func() int64 {
				id, err := g.Next()
				if err != nil {
					b.Fatal(err)
				}
				return int64(id)
			}
		}},
		{"bwmarrin", snowflake.Twitter().Capacity(), func(*testing.B) func() int64 {
			return func() int64 { return int64(bwNode.Generate()) }
		}},
		{"sonyflake", 256 * 100, func(b *testing.B) func() int64 {
			return newSonyflake(b, sonyflake.Settings{})
		}},
		{"sonyflake-1ms-12seq", snowflake.Twitter().Capacity(), func(b *testing.B) func() int64 {
			return newSonyflake(b, sonyflake.Settings{BitsSequence: 12, BitsMachineID: 10, TimeUnit: time.Millisecond})
		}},
		{"uuidv7", 0, func(b *testing.B) func() int64 {
			return func() int64 {
				u, err := uuid.NewV7()
				if err != nil {
					b.Fatal(err)
				}
				return int64(u[15])
			}
		}},
		{"xid", 0, func(*testing.B) func() int64 {
			return func() int64 { return int64(xid.New().Counter()) }
		}},
		{"ulid", 0, func(*testing.B) func() int64 {
			return func() int64 { return int64(ulid.Make()[15]) }
		}},
	}
}

func newGenerator(b testing.TB, l snowflake.Layout, worker int64) *snowflake.Generator {
	b.Helper()
	g, err := snowflake.New(l, worker, snowflake.Options{})
	require.NoError(b, err, "snowflake.New(%+v, %d)", l, worker)
	return g
}

func newSonyflake(b *testing.B, st sonyflake.Settings) func() int64 {
	st.MachineID = func() (int, error) { return 1, nil }
	sf, err := sonyflake.New(st)
	if err != nil {
		b.Fatal(err)
	}
	return func() int64 {
		id, err := sf.NextID()
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
}

// run benchmarks g serially and with RunParallel, reporting IDs per second
// and, for layouts with a limit, the share of that limit reached.
func run(b *testing.B, g gen) {
	b.Run(g.name+"/serial", func(b *testing.B) {
		next := g.make(b)
		b.ReportAllocs()
		var s int64
		for b.Loop() {
			s += next()
		}
		sink.Add(s)
		report(b, g.capacity)
	})
	b.Run(g.name+"/parallel", func(b *testing.B) {
		next := g.make(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s int64
			for pb.Next() {
				s += next()
			}
			sink.Add(s)
		})
		report(b, g.capacity)
	})
}

func report(b *testing.B, capacity float64) {
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "ids/s")
	if capacity > 0 {
		b.ReportMetric(100*rate/capacity, "%capacity")
	}
}

// BenchmarkPeers: each generator with its usual layout. The snowflake-style
// ones with 12 sequence bits of 1 ms (idgen, bwmarrin, sonyflake-1ms-12seq)
// are bounded by 4,096,000 IDs/s; sonyflake's default by 25,600 IDs/s.
func BenchmarkPeers(b *testing.B) {
	for _, g := range peers() {
		run(b, g)
	}
}

// BenchmarkSaturation: Next as fast as it goes with the Twitter layout,
// against the layout's capacity of 4,096,000 IDs/s; the %capacity metric is
// the one to read. bwmarrin is the reference.
func BenchmarkSaturation(b *testing.B) {
	for _, g := range peers()[:2] {
		run(b, g)
	}
}

// BenchmarkRaw: both generators with 22 sequence bits and no worker bits,
// so neither waits for the clock: the cost of one call.
func BenchmarkRaw(b *testing.B) {
	run(b, gen{"idgen", 0, func(b *testing.B) func() int64 {
		g := newGenerator(b, rawLayout, 0)
		return func() int64 {
			id, err := g.Next()
			if err != nil {
				b.Fatal(err)
			}
			return int64(id)
		}
	}})
	run(b, gen{"bwmarrin", 0, func(*testing.B) func() int64 {
		return func() int64 { return int64(bwRawNode.Generate()) }
	}})
}

// BenchmarkSharedCounter: one atomic counter shared by every caller, with
// nothing else in the call: no clock, no checks. It shows what contention on
// one word costs when calls come back to back: a core that owns the word's
// cache line gets several adds done before the other core takes it away.
// In BenchmarkRaw each call reads the clock between two updates of the
// state word, long enough for the other core to take the line every time,
// so there each update waits for the line to come back.
func BenchmarkSharedCounter(b *testing.B) {
	var c struct {
		_ [128]byte
		n atomic.Int64
		_ [128]byte
	}
	run(b, gen{"atomic-add", 0, func(*testing.B) func() int64 {
		return func() int64 { return c.n.Add(1) }
	}})
}

// BenchmarkRawWithWork: the raw pair again, with about 500 ns of the
// caller's own work between two IDs, as in a service that does something
// with each ID. Two goroutines then rarely want the state at the same time,
// and RunParallel shows how the generators scale when they are not the only
// thing running. ns/op includes the work.
func BenchmarkRawWithWork(b *testing.B) {
	withWork := func(g gen) gen {
		return gen{g.name, 0, func(b *testing.B) func() int64 {
			next := g.make(b)
			return func() int64 { return next() + work(int64(b.N)) }
		}}
	}
	run(b, withWork(gen{"idgen", 0, func(b *testing.B) func() int64 {
		g := newGenerator(b, rawLayout, 0)
		return func() int64 {
			id, err := g.Next()
			if err != nil {
				b.Fatal(err)
			}
			return int64(id)
		}
	}}))
	run(b, withWork(gen{"bwmarrin", 0, func(*testing.B) func() int64 {
		return func() int64 { return int64(bwRawNode.Generate()) }
	}}))
	b.Run("work-only/serial", func(b *testing.B) {
		var s int64
		for b.Loop() {
			s += work(s)
		}
		sink.Add(s)
	})
}

// work is about 500 ns of arithmetic that the compiler cannot remove.
func work(x int64) int64 {
	for range 500 {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// BenchmarkNextN: batches from one state update, with the raw layout; ns/ID
// is the cost per ID.
func BenchmarkNextN(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run("batch="+strconv.Itoa(size)+"/serial", func(b *testing.B) {
			g := newGenerator(b, rawLayout, 0)
			dst := make([]snowflake.ID, size)
			b.ReportAllocs()
			ids := 0
			for b.Loop() {
				n, err := g.NextN(dst)
				if err != nil {
					b.Fatal(err)
				}
				ids += n
			}
			sink.Add(int64(dst[0]))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ids), "ns/ID")
		})
		b.Run("batch="+strconv.Itoa(size)+"/parallel", func(b *testing.B) {
			g := newGenerator(b, rawLayout, 0)
			var ids atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]snowflake.ID, size)
				n := 0
				for pb.Next() {
					k, err := g.NextN(dst)
					if err != nil {
						b.Error(err)
						return
					}
					n += k
				}
				ids.Add(int64(n))
				sink.Add(int64(dst[0]))
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ids.Load()), "ns/ID")
		})
	}
}
