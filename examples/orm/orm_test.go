package orm_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/snowlease/idgen/examples/internal/pgtest"
	"github.com/snowlease/idgen/examples/orm"
	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/snowflake"
)

// connect opens a pool on a schema of the test's own, with the recipes'
// table in it.
func connect(t *testing.T) (*pgxpool.Pool, *pgx.ConnConfig) {
	t.Helper()
	cfg := pgtest.Schema(t)
	pcfg, err := pgxpool.ParseConfig(pgtest.URL())
	require.NoError(t, err)
	pcfg.ConnConfig = cfg.Copy()
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(context.Background(), fmt.Sprintf(orm.OrdersDDL, table))
	require.NoError(t, err)
	return pool, cfg
}

// table is the recipes' table, in each test's own schema.
const table = "orders"

// store is what every recipe offers.
type store interface {
	Create(ctx context.Context, parent *snowflake.ID, note string) (orm.Order, error)
	Get(ctx context.Context, id snowflake.ID) (orm.Order, error)
}

func checkStore(t *testing.T, s store) {
	t.Helper()
	ctx := context.Background()
	top, err := s.Create(ctx, nil, "top")
	require.NoError(t, err)
	child, err := s.Create(ctx, &top.ID, "child")
	require.NoError(t, err)
	assert.Greater(t, child.ID, top.ID)

	got, err := s.Get(ctx, top.ID)
	require.NoError(t, err)
	assert.Equal(t, top.ID, got.ID)
	assert.Nil(t, got.Parent, "NULL parent scans to nil")
	got, err = s.Get(ctx, child.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Parent)
	assert.Equal(t, top.ID, *got.Parent)
	assert.Equal(t, "child", got.Note)
}

func TestDatabaseSQL(t *testing.T) {
	_, cfg := connect(t)
	name := table
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	checkStore(t, orm.SQLStore{DB: db, IDs: idgentest.New(t), Table: name})

	// A NULL never passes for an ID: scanning it into a snowflake.ID fails.
	var id snowflake.ID
	err := db.QueryRow("SELECT parent FROM " + name + " WHERE parent IS NULL").Scan(&id)
	assert.ErrorIs(t, err, snowflake.ErrInvalidID)
	var nullable sql.Null[snowflake.ID]
	require.NoError(t, db.QueryRow("SELECT parent FROM "+name+" WHERE parent IS NULL").Scan(&nullable))
	assert.False(t, nullable.Valid)
}

func TestPgx(t *testing.T) {
	pool, _ := connect(t)
	name := table
	s := orm.PgxStore{Pool: pool, IDs: idgentest.New(t), Table: name}
	checkStore(t, s)
	ids, err := s.CreateBatch(context.Background(), []string{"a", "b", "c"})
	require.NoError(t, err)
	require.Len(t, ids, 3)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(DISTINCT id) FROM "+name).Scan(&n))
	assert.Equal(t, 5, n)

	var id snowflake.ID
	err = pool.QueryRow(context.Background(), "SELECT parent FROM "+name+" WHERE parent IS NULL LIMIT 1").Scan(&id)
	assert.Error(t, err, "NULL into a snowflake.ID")
}

func TestGORM(t *testing.T) {
	_, cfg := connect(t)
	name := table
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: stdlib.OpenDB(*cfg)}), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	ctx := orm.WithIDs(context.Background(), idgentest.New(t))
	tx := db.WithContext(ctx).Table(name)

	top := orm.Order{Note: "top"}
	require.NoError(t, tx.Create(&top).Error)
	require.NotZero(t, top.ID, "BeforeCreate set the ID")
	child := orm.Order{Parent: &top.ID, Note: "child"}
	require.NoError(t, db.WithContext(ctx).Table(name).Create(&child).Error)
	assert.Greater(t, child.ID, top.ID)

	var got []orm.Order
	require.NoError(t, db.Table(name).Order("id").Find(&got).Error)
	require.Len(t, got, 2)
	assert.Equal(t, top.ID, got[0].ID)
	assert.Nil(t, got[0].Parent)
	require.NotNil(t, got[1].Parent)
	assert.Equal(t, top.ID, *got[1].Parent)

	// Without a source in the context BeforeCreate refuses, instead of a 0 ID.
	err = db.Table(name).Create(&orm.Order{Note: "no source"}).Error
	assert.ErrorContains(t, err, "no idgen.Source")
}
