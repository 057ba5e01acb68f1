package orm

import (
	"context"
	"database/sql"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// Order is the row every recipe stores: an ID, a nullable parent ID and a
// note.
type Order struct {
	ID     snowflake.ID  `gorm:"primaryKey;autoIncrement:false"`
	Parent *snowflake.ID // NULL for a top-level order
	Note   string
}

// OrdersDDL creates the recipes' table.
const OrdersDDL = `CREATE TABLE IF NOT EXISTS %s (id BIGINT PRIMARY KEY, parent BIGINT NULL, note TEXT NOT NULL)`

// SQLStore keeps orders with database/sql.
type SQLStore struct {
	DB    *sql.DB
	IDs   idgen.Source
	Table string
}

// Create inserts an order under a new ID and returns it.
func (s SQLStore) Create(ctx context.Context, parent *snowflake.ID, note string) (Order, error) {
	id, err := s.IDs.Next()
	if err != nil {
		return Order{}, err
	}
	o := Order{ID: id, Parent: parent, Note: note}
	// snowflake.ID and *snowflake.ID are driver.Valuers: a nil parent is NULL.
	_, err = s.DB.ExecContext(ctx, "INSERT INTO "+s.Table+" (id, parent, note) VALUES ($1, $2, $3)", o.ID, o.Parent, o.Note)
	return o, err
}

// Get reads an order back.
func (s SQLStore) Get(ctx context.Context, id snowflake.ID) (Order, error) {
	var o Order
	err := s.DB.QueryRowContext(ctx, "SELECT id, parent, note FROM "+s.Table+" WHERE id = $1", id).
		Scan(&o.ID, &o.Parent, &o.Note)
	return o, err
}
