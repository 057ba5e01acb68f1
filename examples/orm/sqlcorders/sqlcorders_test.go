package sqlcorders_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/examples/orm/sqlcorders/db"
	"github.com/snowlease/idgen/idgentest"
)

func databaseURL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://127.0.0.1:5432/test"
}

// The sqlc recipe against PostgreSQL, in a schema of its own: the
// generated code takes snowflake.ID and *snowflake.ID, NULL reads as nil.
func TestSqlc(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, databaseURL())
	require.NoError(t, err, "PostgreSQL at %s must be running (set DATABASE_URL to point elsewhere)", databaseURL())
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	schema := fmt.Sprintf("orm_sqlc_%d", time.Now().UnixNano())
	_, err = admin.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	ddl, err := os.ReadFile("schema.sql")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "SET search_path TO "+schema+"; "+string(ddl))
	require.NoError(t, err)

	cfg, err := pgxpool.ParseConfig(databaseURL())
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
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
