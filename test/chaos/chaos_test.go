package chaos_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	flagDuration = flag.Duration("chaos.duration", 0,
		"soak: run the standalone scenario this long (Sentinel, Cluster and the rollback scenarios a quarter of it each, each eviction policy an eighth); 0 runs the bounded version")
	flagSeed   = flag.Uint64("chaos.seed", 0, "seed of the fault order (0: from the time)")
	flagKeep   = flag.Bool("chaos.keep", false, "keep the ID files and worker logs (their directory is logged)")
	flagRace   = flag.String("chaos.race", "auto", "build the worker with -race: auto (when the test has it), on, off")
	flagPace   = flag.Duration("chaos.pace", time.Millisecond, "the workers' -pace: sleep after each batch (0: spin)")
	flagReport = flag.String("chaos.report", "", "append the summary lines and fault logs to this file")
)

func TestMain(m *testing.M) {
	code := m.Run()
	if workerBin != "" {
		os.RemoveAll(filepath.Dir(workerBin))
	}
	os.Exit(code)
}

// TestChaos runs real worker processes against real redis-server processes
// while injecting faults, then checks every ID they issued. By default it is
// bounded (every fault once, about three and a half minutes under -race on
// two cores, half of it the rollback scenarios); -chaos.duration makes it a
// soak:
//
//	go test ./test/chaos -run Chaos -v -timeout 2h -chaos.duration=30m
func TestChaos(t *testing.T) {
	d := *flagDuration
	if testing.Short() && d == 0 {
		t.Skip("slow: minutes of worker processes under faults; runs without -short")
	}
	if d > 0 {
		need := 2*d + 5*time.Minute
		if dl, ok := t.Deadline(); ok {
			require.GreaterOrEqual(t, time.Until(dl), need, "-chaos.duration=%v needs about %v: pass -timeout %v or more",
				d, need, need.Round(time.Minute))
		}
	}
	start := time.Now()
	t.Run("standalone", func(t *testing.T) { runStandalone(t, d) })
	t.Run("sentinel", func(t *testing.T) { runSentinel(t, d/4) })
	t.Run("cluster", func(t *testing.T) { runCluster(t, d/4) })
	t.Run("eviction", func(t *testing.T) { runEviction(t, "allkeys-lru", d/8) })
	t.Run("rollback", func(t *testing.T) { runRollback(t, d/4) })
	if d > 0 {
		t.Run("eviction-random", func(t *testing.T) { runEviction(t, "allkeys-random", d/8) })
	}
	t.Logf("chaos: all scenarios took %v", time.Since(start).Round(time.Second))
}
