package entorders_test

import (
	"context"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/examples/internal/pgtest"
	"github.com/snowlease/idgen/examples/orm/entorders"
	"github.com/snowlease/idgen/examples/orm/entorders/gen"
	"github.com/snowlease/idgen/examples/orm/entorders/gen/order"
	"github.com/snowlease/idgen/idgentest"
)

// The ent recipe against PostgreSQL: the hook fills the BIGINT primary
// key; a NULL parent reads back as nil.
func TestEnt(t *testing.T) {
	ctx := context.Background()
	// ent names the table "orders": the test gets a schema of its own.
	db := stdlib.OpenDB(*pgtest.Schema(t))
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
