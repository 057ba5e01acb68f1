package orm

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// PgxStore keeps orders with pgx's own interface.
type PgxStore struct {
	Pool  *pgxpool.Pool
	IDs   idgen.Source
	Table string
}

// Create inserts an order under a new ID and returns it.
func (s PgxStore) Create(ctx context.Context, parent *snowflake.ID, note string) (Order, error) {
	id, err := s.IDs.Next()
	if err != nil {
		return Order{}, err
	}
	o := Order{ID: id, Parent: parent, Note: note}
	_, err = s.Pool.Exec(ctx, "INSERT INTO "+s.Table+" (id, parent, note) VALUES ($1, $2, $3)", o.ID, o.Parent, o.Note)
	return o, err
}

// Get reads an order back. pgx scans a BIGINT into *snowflake.ID through
// its sql.Scanner, and NULL into a nil *snowflake.ID.
func (s PgxStore) Get(ctx context.Context, id snowflake.ID) (Order, error) {
	var o Order
	err := s.Pool.QueryRow(ctx, "SELECT id, parent, note FROM "+s.Table+" WHERE id = $1", id).
		Scan(&o.ID, &o.Parent, &o.Note)
	return o, err
}

// CreateBatch inserts len(notes) orders with IDs from one NextN call, in
// one COPY.
func (s PgxStore) CreateBatch(ctx context.Context, notes []string) ([]snowflake.ID, error) {
	ids := make([]snowflake.ID, len(notes))
	for filled := 0; filled < len(ids); {
		n, err := s.IDs.NextN(ids[filled:])
		filled += n
		if err != nil {
			return nil, err
		}
	}
	rows := make([][]any, len(notes))
	for i, note := range notes {
		rows[i] = []any{ids[i].Int64(), nil, note}
	}
	_, err := s.Pool.CopyFrom(ctx, pgx.Identifier{s.Table}, []string{"id", "parent", "note"}, pgx.CopyFromRows(rows))
	return ids, err
}
