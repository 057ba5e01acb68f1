// Package otelmetrics exports an idgen Generator's Stats as OpenTelemetry
// metrics: the same figures as package metrics gives Prometheus, with the
// same names under OpenTelemetry's conventions (dots, units). It is a
// module of its own, so that only programs that import it depend on the
// OpenTelemetry API.
//
//	reg, err := otelmetrics.Register(otel.GetMeterProvider().Meter("idgen"), gen)
//	defer reg.Unregister()
//
// Every instrument is observed on collection (no work per ID) and carries
// the attribute idgen.namespace.
//
//	idgen.ids.issued                counter       IDs issued
//	idgen.borrowed                  counter       times the generator ran ahead of the clock
//	idgen.fenced                    counter       Next calls refused at the fence
//	idgen.fence.headroom            gauge (s)     how long IDs can still be issued without a renewal
//	idgen.lease.renewals            counter       lease renewals, attribute result = ok | failed
//	idgen.lease.last_renewal        gauge (s)     Unix time of the last successful renewal
//	idgen.leases.lost               counter       worker-ID leases lost
//	idgen.lease.reacquiring         gauge         1 while a lost lease is being replaced
//	idgen.worker_id                 gauge         the worker ID in use
//	idgen.clock.offset              gauge (s)     local clock minus Redis TIME
//	idgen.clock.uncertainty         gauge (s)     error bound of that offset
//	idgen.clock.stale               gauge         1 when the latest clock check failed
//	idgen.clock.regressions         counter       wall-clock steps backwards seen
//	idgen.paused                    gauge         1 while the clock guard holds issuing
package otelmetrics

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/snowlease/idgen"
)

// Source is what the instruments read; *idgen.Generator satisfies it.
type Source interface {
	Stats() idgen.Stats
}

// Register creates the instruments on meter and a callback that reads
// src.Stats once per collection. Unregister the returned registration when
// src is closed.
func Register(meter metric.Meter, src Source) (metric.Registration, error) {
	if meter == nil || src == nil {
		return nil, errors.New("otelmetrics: meter and source are required")
	}
	var errs []error
	counter := func(name, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, desc, unit string) metric.Float64ObservableGauge {
		g, err := meter.Float64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return g
	}
	issued := counter("idgen.ids.issued", "IDs issued, over every worker ID held.")
	borrowed := counter("idgen.borrowed", "Times the generator ran ahead of the clock because a tick's sequence was used up.")
	fenced := counter("idgen.fenced", "Next calls refused because the fence was reached (lease renewals failing).")
	headroom := gauge("idgen.fence.headroom", "How long IDs can still be issued if no renewal succeeds from now on; negative when the fence is reached.", "s")
	renewals := counter("idgen.lease.renewals", "Lease renewals by result (ok or failed).")
	lastRenewal := gauge("idgen.lease.last_renewal", "Unix time of the last successful lease renewal.", "s")
	lost := counter("idgen.leases.lost", "Worker-ID leases lost.")
	reacquiring := gauge("idgen.lease.reacquiring", "1 while a lost lease is being replaced by a fresh worker ID.", "1")
	worker := gauge("idgen.worker_id", "The worker ID in use.", "1")
	clockOffset := gauge("idgen.clock.offset", "Local clock minus Redis TIME, from the last good check.", "s")
	clockUncert := gauge("idgen.clock.uncertainty", "Error bound of the clock offset (half the round trip).", "s")
	clockStale := gauge("idgen.clock.stale", "1 when the latest clock check failed and the offset is old.", "1")
	clockRg := counter("idgen.clock.regressions", "Wall-clock steps backwards seen by the clock guard.")
	paused := gauge("idgen.paused", "1 while the clock guard's Pause policy holds ID issuing.", "1")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := src.Stats()
		ns := metric.WithAttributes(attribute.String("idgen.namespace", s.Namespace))
		count := func(c metric.Int64ObservableCounter, v uint64, opts ...metric.ObserveOption) {
			o.ObserveInt64(c, int64(min(v, 1<<63-1)), append([]metric.ObserveOption{ns}, opts...)...)
		}
		count(issued, s.Issued)
		count(borrowed, s.Borrowed)
		count(fenced, s.Fenced)
		o.ObserveFloat64(headroom, s.FenceHeadroom.Seconds(), ns)
		count(renewals, s.Renewals, metric.WithAttributes(attribute.String("result", "ok")))
		count(renewals, s.RenewFailures, metric.WithAttributes(attribute.String("result", "failed")))
		if !s.LastRenew.IsZero() {
			o.ObserveFloat64(lastRenewal, float64(s.LastRenew.UnixNano())/1e9, ns)
		}
		count(lost, s.LeasesLost)
		o.ObserveFloat64(reacquiring, boolValue(s.Reacquiring), ns)
		o.ObserveFloat64(worker, float64(s.WorkerID), ns)
		o.ObserveFloat64(clockOffset, s.ClockOffset.Seconds(), ns)
		o.ObserveFloat64(clockUncert, s.ClockUncertainty.Seconds(), ns)
		o.ObserveFloat64(clockStale, boolValue(s.ClockStale), ns)
		count(clockRg, s.ClockRegressions)
		o.ObserveFloat64(paused, boolValue(s.Paused), ns)
		return nil
	}, issued, borrowed, fenced, headroom, renewals, lastRenewal, lost, reacquiring, worker,
		clockOffset, clockUncert, clockStale, clockRg, paused)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
