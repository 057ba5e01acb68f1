package entorders_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/examples/orm/entorders"
	"github.com/snowlease/idgen/examples/orm/entorders/gen"
	"github.com/snowlease/idgen/examples/orm/entorders/gen/order"
	"github.com/snowlease/idgen/idgentest"
)

func databaseURL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://127.0.0.1:5432/test"
}

// The ent recipe against PostgreSQL: the hook fills the BIGINT primary
// key; a NULL parent reads back as nil.
func TestEnt(t *testing.T) {
	ctx := context.Background()
	admin, err := sql.Open("pgx", databaseURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	require.NoError(t, admin.PingContext(ctx), "PostgreSQL at %s must be running (set DATABASE_URL to point elsewhere)", databaseURL())
	// ent names the table "orders": the test gets a schema of its own.
	schema := fmt.Sprintf("orm_ent_%d", time.Now().UnixNano())
	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	cfg, err := pgx.ParseConfig(databaseURL())
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	client := gen.NewClient(gen.Driver(entsql.OpenDB("postgres", db)))
	t.Cleanup(func() { _ = client.Close() })
	require.NoError(t, client.Schema.Create(ctx))
	client.Order.Use(entorders.Hook(idgentest.New(t)))

	top, err := client.Order.Create().SetNote("top").Save(ctx)
	require.NoError(t, err)
	require.NotZero(t, top.ID)
	child, err := client.Order.Create().SetNote("child").SetParent(top.ID).Save(ctx)
	require.NoError(t, err)
	assert.Greater(t, child.ID, top.ID)

	got, err := client.Order.Query().Where(order.NoteEQ("top")).Only(ctx)
	require.NoError(t, err)
	assert.Equal(t, top.ID, got.ID)
	assert.Nil(t, got.Parent)
	got, err = client.Order.Get(ctx, child.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Parent)
	assert.Equal(t, top.ID, *got.Parent)
}
