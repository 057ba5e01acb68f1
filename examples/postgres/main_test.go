package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

func databaseURL() string { return envOr("DATABASE_URL", "postgres://127.0.0.1:5432/test") }

// uniqueTable names a table no other test run uses, and drops it when the
// test ends.
func uniqueTable(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("idgen_example_%d_%s", os.Getpid(), hex.EncodeToString(b))
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), databaseURL())
		if err == nil {
			_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+name)
			pool.Close()
		}
	})
	return name
}

func pgPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), databaseURL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, pool.Ping(context.Background()),
		"PostgreSQL at %s must be running (set DATABASE_URL to point elsewhere)", databaseURL())
	return pool
}

// TestRun: 4 nodes insert 100k rows with idgen primary keys: no conflict,
// and ORDER BY id follows creation time within the clock bound.
func TestRun(t *testing.T) {
	t.Parallel()
	pool := pgPool(t)
	rs := redistest.Start(t, redistest.Config{})
	table := uniqueTable(t)
	const maxSkew = time.Second
	cfg := config{
		databaseURL: databaseURL(),
		redisURL:    "redis://" + rs.Addr,
		table:       table,
		nodes:       4,
		rows:        100000,
		opts:        idgen.Options{Namespace: "pgtest", TTL: 2 * time.Second, MaxSkew: maxSkew},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := run(ctx, cfg, &out)
	require.NoError(t, err)
	t.Log(out.String())

	assert.EqualValues(t, 100000, rep.Rows)
	assert.EqualValues(t, 100000, rep.Distinct)
	seen := map[int64]bool{}
	for _, w := range rep.Workers {
		assert.False(t, seen[w], "two nodes had worker %d", w)
		seen[w] = true
	}
	// All nodes share this host's clock, so the only disorder is the
	// moment between issuing an ID and stamping the row; the bound the
	// library promises across hosts is MaxSkew.
	assert.LessOrEqual(t, rep.MaxInversion, maxSkew)
	assert.LessOrEqual(t, rep.MaxIDTimeLag, maxSkew)
	assert.Contains(t, out.String(), "no key conflict")

	// run dropped its table.
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists))
	assert.False(t, exists, "table %s left behind", table)
}

// TestCheckSeesDisorder shows the checks can fail: rows whose creation
// time runs against their IDs, or far from the ID's time, are measured.
func TestCheckSeesDisorder(t *testing.T) {
	t.Parallel()
	pool := pgPool(t)
	table := uniqueTable(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id BIGINT PRIMARY KEY, node INT NOT NULL, worker INT NOT NULL,
		created_at TIMESTAMPTZ NOT NULL, payload TEXT NOT NULL)`, table))
	require.NoError(t, err)
	l := snowflake.Twitter()
	now := time.Now().Truncate(time.Millisecond)
	id1, err := l.Compose(snowflake.Parts{Time: now, Tick: l.Tick(now), Worker: 1})
	require.NoError(t, err)
	id2, err := l.Compose(snowflake.Parts{Time: now.Add(time.Millisecond), Tick: l.Tick(now) + 1, Worker: 2})
	require.NoError(t, err)
	// id2 > id1 but its row claims to be 3s older; and id1's row is 5s
	// away from id1's own time.
	for _, r := range []struct {
		id      snowflake.ID
		created time.Time
	}{{id1, now.Add(5 * time.Second)}, {id2, now.Add(2 * time.Second)}} {
		_, err := pool.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, 0, 0, $2, '')", table), int64(r.id), r.created)
		require.NoError(t, err)
	}
	rep, err := check(ctx, pool, table, l)
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, rep.MaxInversion)
	assert.Equal(t, 5*time.Second, rep.MaxIDTimeLag)
}
