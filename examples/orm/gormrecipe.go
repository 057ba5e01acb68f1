package orm

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/snowlease/idgen"
)

type sourceKey struct{}

// WithIDs returns ctx carrying src, for BeforeCreate: use
// db.WithContext(orm.WithIDs(ctx, gen)).Create(&order).
func WithIDs(ctx context.Context, src idgen.Source) context.Context {
	return context.WithValue(ctx, sourceKey{}, src)
}

// BeforeCreate is GORM's hook: an order without an ID gets the next one
// from the idgen.Source in the statement's context. A missing source is an
// error rather than a zero ID.
func (o *Order) BeforeCreate(tx *gorm.DB) error {
	if o.ID != 0 {
		return nil
	}
	src, ok := tx.Statement.Context.Value(sourceKey{}).(idgen.Source)
	if !ok {
		return errors.New("orm: no idgen.Source in the context: use orm.WithIDs")
	}
	id, err := src.Next()
	if err != nil {
		return err
	}
	o.ID = id
	return nil
}
