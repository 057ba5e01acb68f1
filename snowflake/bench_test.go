package snowflake

import (
	"testing"
	"time"
)

// rawLayout has 22 sequence bits and no worker bits: 4,194,304 IDs per
// millisecond, more than a caller can take, so a benchmark of it never
// waits for the clock and measures the cost of one call.
var rawLayout = Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 0, SequenceBits: 22}

// benchLayouts are the layouts the generator benchmarks run with: raw (the
// cost of a call) and Twitter (bound by the layout's 4,096 IDs per tick).
var benchLayouts = []struct {
	name   string
	layout Layout
}{
	{"raw", rawLayout},
	{"twitter", Twitter()},
}

func BenchmarkNext(b *testing.B) {
	for _, bl := range benchLayouts {
		b.Run(bl.name, func(b *testing.B) {
			g := mustNew(b, bl.layout, 0, Options{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNextParallel(b *testing.B) {
	for _, bl := range benchLayouts {
		b.Run(bl.name, func(b *testing.B) {
			g := mustNew(b, bl.layout, 0, Options{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := g.Next(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkNextN takes batches of 64 from the raw layout; ns/ID is the time
// per ID.
func BenchmarkNextN(b *testing.B) {
	g := mustNew(b, rawLayout, 0, Options{})
	dst := make([]ID, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.NextN(dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(dst)), "ns/ID")
}

func BenchmarkNextNParallel(b *testing.B) {
	g := mustNew(b, rawLayout, 0, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]ID, 64)
		for pb.Next() {
			if _, err := g.NextN(dst); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/ID")
}
