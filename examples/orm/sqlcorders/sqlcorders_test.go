package sqlcorders_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/examples/internal/pgtest"
	"github.com/snowlease/idgen/examples/orm/sqlcorders/db"
	"github.com/snowlease/idgen/idgentest"
)

// The sqlc recipe against PostgreSQL, in a schema of its own: the
// generated code takes snowflake.ID and *snowflake.ID, NULL reads as nil.
func TestSqlc(t *testing.T) {
	ctx := context.Background()
	cfg := pgtest.Schema(t)
	ddl, err := os.ReadFile("schema.sql")
	require.NoError(t, err)
	pcfg, err := pgxpool.ParseConfig(pgtest.URL())
	require.NoError(t, err)
	pcfg.ConnConfig = cfg.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, string(ddl))
	require.NoError(t, err)
	q := db.New(pool)
	ids := idgentest.New(t)

	top, err := ids.Next()
	require.NoError(t, err)
	require.NoError(t, q.CreateOrder(ctx, db.CreateOrderParams{ID: top, Note: "top"}))
	child, err := ids.Next()
	require.NoError(t, err)
	require.NoError(t, q.CreateOrder(ctx, db.CreateOrderParams{ID: child, Parent: &top, Note: "child"}))

	got, err := q.GetOrder(ctx, top)
	require.NoError(t, err)
	assert.Equal(t, top, got.ID)
	assert.Nil(t, got.Parent)
	got, err = q.GetOrder(ctx, child)
	require.NoError(t, err)
	require.NotNil(t, got.Parent)
	assert.Equal(t, top, *got.Parent)
}
