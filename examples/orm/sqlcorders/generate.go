// Package sqlcorders is the sqlc recipe: the queries in query.sql on the
// table in schema.sql, generated into ./db (go generate, sqlc pinned to
// v1.31.1) with orders.id as snowflake.ID and the nullable orders.parent as
// *snowflake.ID.
package sqlcorders

//go:generate go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate
