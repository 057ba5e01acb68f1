package serve

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// serverMetrics are the service's own metrics; the Generator's come from
// package metrics (github.com/snowlease/idgen/metrics), which `idgen serve`
// registers next to them.
type serverMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ids      prometheus.Counter
	// procedures maps an RPC procedure to its *rpcSeries. The procedures
	// are the handlers' own (the mux and grpc-go route unknown ones
	// elsewhere), so the map stays small.
	procedures sync.Map
}

func newServerMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idgen_serve_requests_total",
			Help: "Requests served, by route (an HTTP path or an RPC procedure) and result (an HTTP status code or a gRPC code).",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "idgen_serve_request_duration_seconds",
			Help:    "Time to serve a request, from routing to the last byte handed to the connection, by route.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1},
		}, []string{"route"}),
		ids: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "idgen_serve_ids_total",
			Help: "IDs handed out in responses.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.ids} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// routeSeries are one HTTP route's series, resolved once so that the hot
// path does not hash label values.
type routeSeries struct {
	route            string
	requests         *prometheus.CounterVec
	ok, bad, unavail prometheus.Counter
	duration         prometheus.Observer
}

func (m *serverMetrics) route(route string) *routeSeries {
	return &routeSeries{
		route:    route,
		requests: m.requests,
		ok:       m.requests.WithLabelValues(route, "200"),
		bad:      m.requests.WithLabelValues(route, "400"),
		unavail:  m.requests.WithLabelValues(route, "503"),
		duration: m.duration.WithLabelValues(route),
	}
}

func (r *routeSeries) observe(code int, d time.Duration) {
	switch code {
	case 200:
		r.ok.Inc()
	case 400:
		r.bad.Inc()
	case 503:
		r.unavail.Inc()
	default:
		r.requests.WithLabelValues(r.route, strconv.Itoa(code)).Inc()
	}
	r.duration.Observe(d.Seconds())
}

// rpc counts one RPC. A procedure's "ok" series are resolved once, so
// that a successful call does not hash label values.
func (m *serverMetrics) rpc(procedure, code string, d time.Duration) {
	v, ok := m.procedures.Load(procedure)
	if !ok {
		v, _ = m.procedures.LoadOrStore(procedure, &rpcSeries{
			ok:       m.requests.WithLabelValues(procedure, "ok"),
			duration: m.duration.WithLabelValues(procedure),
		})
	}
	ps := v.(*rpcSeries)
	if code == "ok" {
		ps.ok.Inc()
	} else {
		m.requests.WithLabelValues(procedure, code).Inc()
	}
	ps.duration.Observe(d.Seconds())
}

type rpcSeries struct {
	ok       prometheus.Counter
	duration prometheus.Observer
}
