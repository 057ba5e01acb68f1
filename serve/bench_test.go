package serve_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/serve"
)

// discard is a ResponseWriter that keeps nothing, so the benchmarks measure
// the handler: routing, the generator, the encoding and the metrics.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func benchmarkIDs(b *testing.B, query string) {
	srv, err := serve.New(idgentest.New(b), serve.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	req := httptest.NewRequest("GET", "/v1/ids"+query, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discard{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

func BenchmarkHTTPIDs1(b *testing.B)    { benchmarkIDs(b, "") }
func BenchmarkHTTPIDs1000(b *testing.B) { benchmarkIDs(b, "?count=1000") }
