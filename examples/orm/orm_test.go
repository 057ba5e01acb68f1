package orm_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/snowlease/idgen/examples/orm"
	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/snowflake"
)

func databaseURL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://127.0.0.1:5432/test"
}

// table creates a fresh table for one test and drops it afterwards.
func table(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	name := strings.ToLower(fmt.Sprintf("orm_%s_%d", t.Name(), time.Now().UnixNano()%1e9))
	ctx := context.Background()
	_, err := pool.Exec(ctx, fmt.Sprintf(orm.OrdersDDL, name))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+name) })
	return name
}

func connect(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, databaseURL())
	require.NoError(t, err)
	require.NoError(t, pool.Ping(ctx), "PostgreSQL at %s must be running (set DATABASE_URL to point elsewhere)", databaseURL())
	t.Cleanup(pool.Close)
	return pool
}

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
	pool := connect(t)
	name := table(t, pool)
	db, err := sql.Open("pgx", databaseURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkStore(t, orm.SQLStore{DB: db, IDs: idgentest.New(t), Table: name})

	// A NULL never passes for an ID: scanning it into a snowflake.ID fails.
	var id snowflake.ID
	err = db.QueryRow("SELECT parent FROM " + name + " WHERE parent IS NULL").Scan(&id)
	assert.ErrorIs(t, err, snowflake.ErrInvalidID)
	var nullable sql.Null[snowflake.ID]
	require.NoError(t, db.QueryRow("SELECT parent FROM "+name+" WHERE parent IS NULL").Scan(&nullable))
	assert.False(t, nullable.Valid)
}

func TestPgx(t *testing.T) {
	pool := connect(t)
	name := table(t, pool)
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
	pool := connect(t)
	name := table(t, pool)
	db, err := gorm.Open(postgres.Open(databaseURL()), &gorm.Config{Logger: logger.Discard})
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
