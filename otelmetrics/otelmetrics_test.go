package otelmetrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/otelmetrics"
)

// The instruments report what Stats says, read at collection: IDs issued,
// the worker ID, renewals, the fence headroom.
func TestRegisterReportsStats(t *testing.T) {
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	ctx := context.Background()
	opts := idgen.Options{Namespace: "otel", TTL: 600 * time.Millisecond, MaxSkew: 50 * time.Millisecond}
	require.NoError(t, idgen.Init(ctx, client, opts))
	gen, err := idgen.New(ctx, client, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gen.Close(ctx) })
	for range 1000 {
		_, err := gen.Next()
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return gen.Stats().Renewals >= 1 }, 5*time.Second, 10*time.Millisecond)

	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	reg, err := otelmetrics.Register(provider.Meter("idgen"), gen)
	require.NoError(t, err)
	defer func() { require.NoError(t, reg.Unregister()) }()

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	assert.Len(t, got, 14, "every instrument reported: %v", got)

	issued := got["idgen.ids.issued"].(metricdata.Sum[int64])
	require.Len(t, issued.DataPoints, 1)
	assert.Equal(t, int64(1000), issued.DataPoints[0].Value)
	ns, _ := issued.DataPoints[0].Attributes.Value("idgen.namespace")
	assert.Equal(t, "otel", ns.AsString())

	worker := got["idgen.worker_id"].(metricdata.Gauge[float64])
	assert.Equal(t, float64(gen.WorkerID()), worker.DataPoints[0].Value)

	renewals := got["idgen.lease.renewals"].(metricdata.Sum[int64])
	require.Len(t, renewals.DataPoints, 2, "ok and failed")
	for _, dp := range renewals.DataPoints {
		if r, _ := dp.Attributes.Value("result"); r.AsString() == "ok" {
			assert.GreaterOrEqual(t, dp.Value, int64(1))
		}
	}
	headroom := got["idgen.fence.headroom"].(metricdata.Gauge[float64])
	assert.Greater(t, headroom.DataPoints[0].Value, 0.0)

	_, err = otelmetrics.Register(nil, gen)
	assert.Error(t, err)
}
