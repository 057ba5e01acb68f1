package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// checkOutput checks what the quickstart printed: nodes*idsEach distinct
// IDs, each node's increasing and with its own worker ID, decoded parts
// that match the ID, and one lease per node.
func checkOutput(t *testing.T, out string) {
	t.Helper()
	ids := map[int64]bool{}
	workerOf := map[string]int64{}
	lastOf := map[string]int64{}
	leases := 0
	inLeases := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Leases in namespace"):
			inLeases = true
		case len(f) == 6 && strings.HasPrefix(f[0], "node-"):
			id, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err, line)
			require.False(t, ids[id], "ID %d printed twice", id)
			ids[id] = true
			p := snowflake.Twitter().Decompose(snowflake.ID(id))
			assert.Equal(t, snowflake.ID(id).Base58(), f[2], line)
			assert.Equal(t, p.Time.UTC().Format("2006-01-02T15:04:05.000Z"), f[3], line)
			assert.Equal(t, strconv.FormatInt(p.Worker, 10), f[4], line)
			assert.Equal(t, strconv.FormatInt(p.Sequence, 10), f[5], line)
			assert.WithinDuration(t, time.Now(), p.Time, time.Minute, "ID time of %s", line)
			if w, ok := workerOf[f[0]]; ok {
				assert.Equal(t, w, p.Worker, "node changed worker ID: %s", line)
				assert.Greater(t, id, lastOf[f[0]], "IDs of %s not increasing", f[0])
			}
			workerOf[f[0]] = p.Worker
			lastOf[f[0]] = id
		case inLeases && len(f) >= 5:
			if _, err := strconv.Atoi(f[0]); err == nil {
				leases++
			}
		}
	}
	assert.Len(t, ids, nodes*idsEach, "output:\n%s", out)
	seen := map[int64]string{}
	for node, w := range workerOf {
		require.NotContains(t, seen, w, "nodes %s and %s share worker %d", node, seen[w], w)
		seen[w] = node
	}
	assert.Equal(t, nodes, leases, "leases listed; output:\n%s", out)
}

func TestRunInProcessRedis(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, &out, ""))
	assert.Contains(t, out.String(), "in-process Redis (miniredis)")
	checkOutput(t, out.String())
}

func TestRunRealRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, &out, "redis://"+rs.Addr))
	assert.Contains(t, out.String(), "Using the Redis at "+rs.Addr)
	checkOutput(t, out.String())

	// The nodes released their worker IDs on the way out.
	infos, err := lease.List(ctx, rs.Client(t), namespace)
	require.NoError(t, err)
	assert.Empty(t, infos, "leases left behind")
}
