// Package metrics exports an idgen Generator's Stats as Prometheus metrics.
// It lives in its own package so that only programs that import it depend
// on prometheus/client_golang.
//
//	reg.MustRegister(metrics.NewCollector(gen, metrics.Options{}))
//
// Every metric carries the label namespace (the lease namespace); add
// ConstLabels to tell apart several Generators in one process.
//
// Metrics (the prefix is Options.Prefix, default "idgen"):
//
//	idgen_ids_issued_total                   counter  IDs issued
//	idgen_borrowed_total                     counter  times the generator ran ahead of the clock (sequence used up)
//	idgen_fenced_total                       counter  Next calls refused at the fence
//	idgen_fence_headroom_seconds             gauge    how long IDs can still be issued without a renewal
//	idgen_lease_renewals_total{result}       counter  lease renewals, result="ok" or "failed"
//	idgen_lease_last_renewal_timestamp_seconds gauge  Unix time of the last successful renewal
//	idgen_leases_lost_total                  counter  worker-ID leases lost
//	idgen_lease_reacquiring                  gauge    1 while a lost lease is being replaced
//	idgen_worker_id                          gauge    the worker ID in use
//	idgen_clock_offset_seconds               gauge    local clock minus Redis TIME
//	idgen_clock_uncertainty_seconds          gauge    error bound of that offset
//	idgen_clock_stale                        gauge    1 when the latest clock check failed
//	idgen_clock_regressions_total            counter  wall-clock steps backwards seen
//	idgen_paused                             gauge    1 while the clock guard holds issuing
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/snowlease/idgen"
)

// Source is what the collector reads; *idgen.Generator satisfies it.
type Source interface {
	Stats() idgen.Stats
}

// Options configure NewCollector. The zero value is valid.
type Options struct {
	// Prefix starts every metric name. Default "idgen".
	Prefix string
	// ConstLabels are added to every metric, such as {"node": "a"} when one
	// process runs several Generators.
	ConstLabels prometheus.Labels
}

// Collector is a prometheus.Collector that reads Stats on every scrape. It
// is safe for concurrent use.
type Collector struct {
	src   Source
	descs descs
}

type descs struct {
	issued, borrowed, fenced, headroom            *prometheus.Desc
	renewals, lastRenewal, lost, reacquiring      *prometheus.Desc
	worker                                        *prometheus.Desc
	clockOffset, clockUncert, clockStale, clockRg *prometheus.Desc
	paused                                        *prometheus.Desc
}

// NewCollector returns a collector for src.
func NewCollector(src Source, opts Options) *Collector {
	p := opts.Prefix
	if p == "" {
		p = "idgen"
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(p+"_"+name, help, append([]string{"namespace"}, labels...), opts.ConstLabels)
	}
	return &Collector{src: src, descs: descs{
		issued:      d("ids_issued_total", "IDs issued, over every worker ID held."),
		borrowed:    d("borrowed_total", "Times the generator ran ahead of the clock because a tick's sequence was used up."),
		fenced:      d("fenced_total", "Next calls refused because the fence was reached (lease renewals failing)."),
		headroom:    d("fence_headroom_seconds", "How long IDs can still be issued if no renewal succeeds from now on; negative when the fence is reached."),
		renewals:    d("lease_renewals_total", "Lease renewals by result (ok or failed).", "result"),
		lastRenewal: d("lease_last_renewal_timestamp_seconds", "Unix time of the last successful lease renewal."),
		lost:        d("leases_lost_total", "Worker-ID leases lost."),
		reacquiring: d("lease_reacquiring", "1 while a lost lease is being replaced by a fresh worker ID."),
		worker:      d("worker_id", "The worker ID in use."),
		clockOffset: d("clock_offset_seconds", "Local clock minus Redis TIME, from the last good check."),
		clockUncert: d("clock_uncertainty_seconds", "Error bound of the clock offset (half the round trip)."),
		clockStale:  d("clock_stale", "1 when the latest clock check failed and the offset is old."),
		clockRg:     d("clock_regressions_total", "Wall-clock steps backwards seen by the clock guard."),
		paused:      d("paused", "1 while the clock guard's Pause policy holds ID issuing."),
	}}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, x := range []*prometheus.Desc{
		d.issued, d.borrowed, d.fenced, d.headroom, d.renewals, d.lastRenewal, d.lost, d.reacquiring,
		d.worker, d.clockOffset, d.clockUncert, d.clockStale, d.clockRg, d.paused,
	} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	d := c.descs
	ns := s.Namespace
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), append([]string{ns}, labels...)...)
	}
	gauge := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, ns)
	}
	counter(d.issued, s.Issued)
	counter(d.borrowed, s.Borrowed)
	counter(d.fenced, s.Fenced)
	gauge(d.headroom, s.FenceHeadroom.Seconds())
	counter(d.renewals, s.Renewals, "ok")
	counter(d.renewals, s.RenewFailures, "failed")
	if !s.LastRenew.IsZero() {
		gauge(d.lastRenewal, float64(s.LastRenew.UnixNano())/1e9)
	}
	counter(d.lost, s.LeasesLost)
	gauge(d.reacquiring, boolValue(s.Reacquiring))
	gauge(d.worker, float64(s.WorkerID))
	gauge(d.clockOffset, s.ClockOffset.Seconds())
	gauge(d.clockUncert, s.ClockUncertainty.Seconds())
	gauge(d.clockStale, boolValue(s.ClockStale))
	counter(d.clockRg, s.ClockRegressions)
	gauge(d.paused, boolValue(s.Paused))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
