package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/metrics"
)

type fixed idgen.Stats

func (f *fixed) Stats() idgen.Stats { return idgen.Stats(*f) }

func TestCollectorExposition(t *testing.T) {
	t.Parallel()
	src := &fixed{
		Namespace:        "orders",
		WorkerID:         17,
		Issued:           12345,
		Borrowed:         3,
		Fenced:           2,
		FenceHeadroom:    7500 * time.Millisecond,
		Renewals:         40,
		RenewFailures:    1,
		LastRenew:        time.Unix(1700000000, 500_000_000),
		LeasesLost:       1,
		ClockOffset:      -2 * time.Millisecond,
		ClockUncertainty: 250 * time.Microsecond,
		ClockStale:       true,
		ClockRegressions: 4,
	}
	c := metrics.NewCollector(src, metrics.Options{ConstLabels: prometheus.Labels{"node": "a"}})
	want := `
# HELP idgen_borrowed_total Times the generator ran ahead of the clock because a tick's sequence was used up.
# TYPE idgen_borrowed_total counter
idgen_borrowed_total{namespace="orders",node="a"} 3
# HELP idgen_clock_offset_seconds Local clock minus Redis TIME, from the last good check.
# TYPE idgen_clock_offset_seconds gauge
idgen_clock_offset_seconds{namespace="orders",node="a"} -0.002
# HELP idgen_clock_regressions_total Wall-clock steps backwards seen by the clock guard.
# TYPE idgen_clock_regressions_total counter
idgen_clock_regressions_total{namespace="orders",node="a"} 4
# HELP idgen_clock_stale 1 when the latest clock check failed and the offset is old.
# TYPE idgen_clock_stale gauge
idgen_clock_stale{namespace="orders",node="a"} 1
# HELP idgen_clock_uncertainty_seconds Error bound of the clock offset (half the round trip).
# TYPE idgen_clock_uncertainty_seconds gauge
idgen_clock_uncertainty_seconds{namespace="orders",node="a"} 0.00025
# HELP idgen_fence_headroom_seconds How long IDs can still be issued if no renewal succeeds from now on; negative when the fence is reached.
# TYPE idgen_fence_headroom_seconds gauge
idgen_fence_headroom_seconds{namespace="orders",node="a"} 7.5
# HELP idgen_fenced_total Next calls refused because the fence was reached (lease renewals failing).
# TYPE idgen_fenced_total counter
idgen_fenced_total{namespace="orders",node="a"} 2
# HELP idgen_ids_issued_total IDs issued, over every worker ID held.
# TYPE idgen_ids_issued_total counter
idgen_ids_issued_total{namespace="orders",node="a"} 12345
# HELP idgen_lease_last_renewal_timestamp_seconds Unix time of the last successful lease renewal.
# TYPE idgen_lease_last_renewal_timestamp_seconds gauge
idgen_lease_last_renewal_timestamp_seconds{namespace="orders",node="a"} 1.7000000005e+09
# HELP idgen_lease_reacquiring 1 while a lost lease is being replaced by a fresh worker ID.
# TYPE idgen_lease_reacquiring gauge
idgen_lease_reacquiring{namespace="orders",node="a"} 0
# HELP idgen_lease_renewals_total Lease renewals by result (ok or failed).
# TYPE idgen_lease_renewals_total counter
idgen_lease_renewals_total{namespace="orders",node="a",result="failed"} 1
idgen_lease_renewals_total{namespace="orders",node="a",result="ok"} 40
# HELP idgen_leases_lost_total Worker-ID leases lost.
# TYPE idgen_leases_lost_total counter
idgen_leases_lost_total{namespace="orders",node="a"} 1
# HELP idgen_paused 1 while the clock guard's Pause policy holds ID issuing.
# TYPE idgen_paused gauge
idgen_paused{namespace="orders",node="a"} 0
# HELP idgen_worker_id The worker ID in use.
# TYPE idgen_worker_id gauge
idgen_worker_id{namespace="orders",node="a"} 17
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))

	// Every scrape reads Stats afresh.
	src.Issued = 20000
	assert.InDelta(t, 20000, testutil.ToFloat64(onlyMetric(c, "idgen_ids_issued_total")), 0)
}

// onlyMetric narrows a collector to one metric family for ToFloat64.
func onlyMetric(c prometheus.Collector, name string) prometheus.Collector {
	return filter{c, name}
}

type filter struct {
	c    prometheus.Collector
	name string
}

func (f filter) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }
func (f filter) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}

func TestCollectorLints(t *testing.T) {
	t.Parallel()
	c := metrics.NewCollector(&fixed{Namespace: "x"}, metrics.Options{Prefix: "myapp_idgen"})
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, problems)
	n := testutil.CollectAndCount(c)
	assert.Equal(t, 14, n, "no last-renewal timestamp before the first renewal")
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP myapp_idgen_worker_id The worker ID in use.
# TYPE myapp_idgen_worker_id gauge
myapp_idgen_worker_id{namespace="x"} 0
`), "myapp_idgen_worker_id"))
}

// A real generator's stats show up in a registry.
func TestCollectorWithGenerator(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	g, err := idgen.New(context.Background(), rs.Client(t),
		idgen.Options{Namespace: "m", TTL: 2 * time.Second, MaxSkew: 50 * time.Millisecond})
	require.NoError(t, err)
	defer g.Close(context.Background())
	for range 100 {
		_, err := g.Next()
		require.NoError(t, err)
	}
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics.NewCollector(g, metrics.Options{})))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP idgen_ids_issued_total IDs issued, over every worker ID held.
# TYPE idgen_ids_issued_total counter
idgen_ids_issued_total{namespace="m"} 100
`), "idgen_ids_issued_total"))
	headroom, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range headroom {
		if mf.GetName() == "idgen_fence_headroom_seconds" {
			v := mf.GetMetric()[0].GetGauge().GetValue()
			assert.Greater(t, v, 0.0)
			assert.LessOrEqual(t, v, 2.01)
		}
	}
}
