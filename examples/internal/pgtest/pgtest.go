// Package pgtest gives the examples' tests a PostgreSQL to work in: the
// one at DATABASE_URL (default postgres://127.0.0.1:5432/test, the one
// `make test` expects), and a schema of their own that is dropped when the
// test ends, so that no test depends on, or leaves, data in the shared
// database.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL is DATABASE_URL, or the default.
func URL() string {
	if v := os.Getenv("DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://127.0.0.1:5432/test"
}

// Schema creates a schema for t, drops it (with everything in it) when t
// ends, and returns a connection config whose search_path is that schema.
// It fails t, saying how to fix it, when PostgreSQL does not answer.
func Schema(t testing.TB) *pgx.ConnConfig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, URL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s must be running (set DATABASE_URL to point elsewhere): %v", URL(), err)
	}
	name := fmt.Sprintf("idgen_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
		_ = admin.Close(context.Background())
	})
	cfg, err := pgx.ParseConfig(URL())
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	cfg.RuntimeParams["search_path"] = name
	return cfg
}
