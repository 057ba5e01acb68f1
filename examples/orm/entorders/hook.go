package entorders

import (
	"context"

	"entgo.io/ent"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/examples/orm/entorders/gen"
	"github.com/snowlease/idgen/examples/orm/entorders/gen/hook"
)

// Hook gives every order created without an ID the next one from src:
// client.Order.Use(entorders.Hook(gen)).
func Hook(src idgen.Source) ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.OrderFunc(func(ctx context.Context, m *gen.OrderMutation) (ent.Value, error) {
			if _, set := m.ID(); !set {
				id, err := src.Next()
				if err != nil {
					return nil, err
				}
				m.SetID(id)
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate)
}
