// Command postgres uses idgen IDs as BIGINT primary keys in PostgreSQL:
// several nodes (here goroutines, each with its own idgen.Generator and
// worker ID, as separate processes would have) insert rows concurrently, and
// the database never sees a key conflict. Because the IDs are time-sortable,
// ORDER BY id is also the order in which the rows were created, up to the
// clock agreement between nodes.
//
//	DATABASE_URL=postgres://127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 \
//	    go run ./examples/postgres -rows 100000 -nodes 4
//
// It creates the table (-table, default idgen_example_events), inserts,
// checks, prints a summary and drops the table unless -keep is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// batchSize is how many rows a node sends in one COPY.
const batchSize = 2000

type config struct {
	databaseURL string
	redisURL    string
	table       string
	nodes       int
	rows        int // in total, over all nodes
	keep        bool
	opts        idgen.Options
}

// report is what a run found.
type report struct {
	Rows, Distinct int64
	Workers        []int64
	Elapsed        time.Duration
	// MaxInversion is the largest amount by which a row's creation time
	// lies before the creation time of a row with a smaller ID: how far
	// ORDER BY id strays from creation order.
	MaxInversion time.Duration
	// MaxIDTimeLag is the largest gap between the time inside an ID and
	// the creation time recorded for its row.
	MaxIDTimeLag time.Duration
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func run(ctx context.Context, cfg config, out io.Writer) (*report, error) {
	if !tableName.MatchString(cfg.table) {
		return nil, fmt.Errorf("table name %q: use lower-case letters, digits and _", cfg.table)
	}
	if cfg.nodes < 1 || cfg.rows < cfg.nodes {
		return nil, fmt.Errorf("need at least one node and one row per node, got %d nodes, %d rows", cfg.nodes, cfg.rows)
	}
	pool, err := pgxpool.New(ctx, cfg.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer pool.Close()
	ropts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}

	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (
		id         BIGINT PRIMARY KEY,
		node       INT NOT NULL,
		worker     INT NOT NULL,
		created_at TIMESTAMPTZ NOT NULL,
		payload    TEXT NOT NULL
	)`, cfg.table)); err != nil {
		return nil, fmt.Errorf("create table %s (drop it, or pick another with -table): %w", cfg.table, err)
	}
	if !cfg.keep {
		defer func() {
			_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+cfg.table)
		}()
	}

	start := time.Now()
	workers, err := insertAll(ctx, cfg, ropts, pool)
	if err != nil {
		return nil, err
	}
	rep, err := check(ctx, pool, cfg.table, cfg.opts.Layout.OrDefault())
	if err != nil {
		return nil, err
	}
	rep.Workers = workers
	rep.Elapsed = time.Since(start)
	fmt.Fprintf(out, "%d nodes (worker IDs %v) inserted %d rows into %s in %v: %d distinct IDs, no key conflict.\n",
		cfg.nodes, workers, rep.Rows, cfg.table, rep.Elapsed.Round(time.Millisecond), rep.Distinct)
	fmt.Fprintf(out, "ORDER BY id vs creation time: largest inversion %v; largest gap between ID time and creation time %v.\n",
		rep.MaxInversion, rep.MaxIDTimeLag)
	return rep, nil
}

// insertAll runs the nodes concurrently; each has its own Redis client and
// Generator, as a separate process would.
func insertAll(ctx context.Context, cfg config, ropts *redis.Options, pool *pgxpool.Pool) ([]int64, error) {
	workers := make([]int64, cfg.nodes)
	errs := make([]error, cfg.nodes)
	var wg sync.WaitGroup
	for n := range cfg.nodes {
		rows := cfg.rows / cfg.nodes
		if n < cfg.rows%cfg.nodes {
			rows++
		}
		wg.Go(func() {
			workers[n], errs[n] = runNode(ctx, cfg, ropts, pool, n, rows)
		})
	}
	wg.Wait()
	return workers, errors.Join(errs...)
}

func runNode(ctx context.Context, cfg config, ropts *redis.Options, pool *pgxpool.Pool, node, rows int) (int64, error) {
	client := redis.NewClient(ropts)
	defer client.Close()
	gen, err := idgen.New(ctx, client, cfg.opts)
	if err != nil {
		return 0, fmt.Errorf("node %d: %w", node, err)
	}
	defer gen.Close(context.Background())
	worker := gen.WorkerID()

	batch := make([][]any, 0, batchSize)
	for done := 0; done < rows; done += len(batch) {
		batch = batch[:0]
		for range min(batchSize, rows-done) {
			id, err := gen.NextContext(ctx) // waits while the generator is briefly unavailable
			if err != nil {
				return worker, fmt.Errorf("node %d: %w", node, err)
			}
			// Record the creation time right after the ID is issued, as
			// an application would stamp its row.
			batch = append(batch, []any{int64(id), node, worker, time.Now(), fmt.Sprintf("event %d of node %d", done+len(batch), node)})
		}
		_, err := pool.CopyFrom(ctx, pgx.Identifier{cfg.table},
			[]string{"id", "node", "worker", "created_at", "payload"}, pgx.CopyFromRows(batch))
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return worker, fmt.Errorf("node %d: primary key conflict: %s", node, pe.Detail)
			}
			return worker, fmt.Errorf("node %d: insert: %w", node, err)
		}
	}
	return worker, nil
}

// check counts the rows and measures how well ORDER BY id follows the
// creation time.
func check(ctx context.Context, pool *pgxpool.Pool, table string, layout snowflake.Layout) (*report, error) {
	rep := &report{}
	err := pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*), count(DISTINCT id) FROM %s", table)).
		Scan(&rep.Rows, &rep.Distinct)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, fmt.Sprintf("SELECT id, created_at FROM %s ORDER BY id", table))
	if err != nil {
		return nil, err
	}
	var latest time.Time
	var id int64
	var created time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &created}, func() error {
		if d := latest.Sub(created); d > rep.MaxInversion {
			rep.MaxInversion = d
		}
		if created.After(latest) {
			latest = created
		}
		idTime := layout.Decompose(snowflake.ID(id)).Time
		lag := created.Sub(idTime)
		if lag < 0 {
			lag = -lag
		}
		rep.MaxIDTimeLag = max(rep.MaxIDTimeLag, lag)
		return nil
	})
	return rep, err
}

func main() {
	cfg := config{opts: idgen.Options{Namespace: "postgres-example"}}
	flag.StringVar(&cfg.table, "table", "idgen_example_events", "table to create, fill and drop")
	flag.IntVar(&cfg.nodes, "nodes", 4, "concurrent nodes, each with its own worker ID")
	flag.IntVar(&cfg.rows, "rows", 100000, "rows to insert, over all nodes")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the table afterwards")
	flag.Parse()
	cfg.databaseURL = envOr("DATABASE_URL", "postgres://127.0.0.1:5432/test")
	cfg.redisURL = envOr("REDIS_URL", "redis://127.0.0.1:6379")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "postgres:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
