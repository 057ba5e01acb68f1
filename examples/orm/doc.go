// Package orm holds recipes for storing idgen IDs as a BIGINT primary key
// with the usual Go database layers, each tested against a real PostgreSQL
// (DATABASE_URL, default postgres://127.0.0.1:5432/test):
//
//   - database/sql (with the pgx stdlib driver): snowflake.ID is a
//     driver.Valuer and a sql.Scanner.
//   - pgx, natively: pass id.Int64() and scan into an int64 or a
//     *snowflake.ID.
//   - GORM: a BeforeCreate hook fills the primary key from the idgen.Source
//     carried in the statement's context.
//   - ent (package entorders): the id field is a snowflake.ID (GoType), and
//     a create hook fills it from an idgen.Source.
//   - sqlc (package sqlcorders): overrides map orders.id to snowflake.ID
//     and the nullable orders.parent to *snowflake.ID.
//
// The ent and sqlc code is generated (pinned versions) and committed:
// `make generate` runs go generate for both.
//
// Every recipe takes an idgen.Source, so production code passes an
// *idgen.Generator and tests an idgentest generator. NULL: snowflake.ID
// refuses to scan SQL NULL (it is not a valid ID); a nullable ID column is
// a *snowflake.ID (or sql.Null[snowflake.ID]), which scans NULL to nil.
package orm
