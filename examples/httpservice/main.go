// Command httpservice is an ID service over HTTP: one idgen.Generator per
// process, any number of processes behind a load balancer, no two IDs alike.
//
//	REDIS_URL=redis://127.0.0.1:6379 go run ./examples/httpservice -addr 127.0.0.1:8080
//
//	GET /id             {"id":"1790..."}
//	GET /ids?n=5        {"ids":["1790...", ...]}   (1 <= n <= 1000)
//	GET /decode/{id}    {"id","time","tick","worker","sequence"}
//	GET /livez          200 while the process serves requests
//	GET /readyz         200 while IDs can be issued now, 503 with the reason otherwise
//	GET /metrics        Prometheus metrics of the generator
//
// IDs are JSON strings: JavaScript numbers lose precision above 2^53.
// SIGINT or SIGTERM shuts the server down gracefully: in-flight requests
// finish, then the worker ID is released so another process can take it at
// once.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/metrics"
	"github.com/snowlease/idgen/snowflake"
)

// maxBatch bounds /ids?n=.
const maxBatch = 1000

// generator is what the handlers need; *idgen.Generator (and
// *idgen.Starting) satisfies it.
type generator interface {
	idgen.Source
	Ready() error
}

type service struct {
	gen    generator
	logger *slog.Logger
}

// newHandler returns the service's routes; reg, when not nil, is served at
// /metrics.
func newHandler(gen generator, reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	s := &service{gen: gen, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /id", s.id)
	mux.HandleFunc("GET /ids", s.ids)
	mux.HandleFunc("GET /decode/{id}", s.decode)
	mux.HandleFunc("GET /livez", s.livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	return mux
}

func (s *service) id(w http.ResponseWriter, r *http.Request) {
	id, err := s.gen.Next()
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]snowflake.ID{"id": id})
}

func (s *service) ids(w http.ResponseWriter, r *http.Request) {
	n := 1
	if q := r.URL.Query().Get("n"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > maxBatch {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("n must be an integer from 1 to %d, got %q", maxBatch, q))
			return
		}
		n = v
	}
	ids := make([]snowflake.ID, n)
	k, err := s.gen.NextN(ids)
	if err != nil && k < n {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]snowflake.ID{"ids": ids})
}

// decoded is the JSON of /decode/{id}.
type decoded struct {
	ID       snowflake.ID `json:"id"`
	Time     string       `json:"time"`
	Tick     int64        `json:"tick"`
	Worker   int64        `json:"worker"`
	Sequence int64        `json:"sequence"`
}

func (s *service) decode(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	l := s.gen.Layout()
	id, err := snowflake.ParseString(raw)
	if err == nil {
		err = l.CheckID(id)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a valid ID: %v", raw, err))
		return
	}
	p := l.Decompose(id)
	writeJSON(w, http.StatusOK, decoded{
		ID:       id,
		Time:     p.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Tick:     p.Tick,
		Worker:   p.Worker,
		Sequence: p.Sequence,
	})
}

// livez answers while the process can answer at all: a liveness probe
// that fails only when restarting the process is the fix.
func (s *service) livez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is 200 only while Next would issue an ID now (Generator.Ready),
// so a load balancer sends requests elsewhere while this node recovers.
func (s *service) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.gen.Ready(); err != nil {
		if errors.Is(err, idgen.ErrUnavailable) {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// unavailable answers a failed Next: 503 with Retry-After when the
// generator is recovering, 500 otherwise.
func (s *service) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.WarnContext(r.Context(), "no ID issued", "err", err)
	if errors.Is(err, idgen.ErrUnavailable) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if errors.Is(err, idgen.ErrClosed) {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

type config struct {
	addr     string
	redisURL string
	opts     idgen.Options
	logger   *slog.Logger
	ready    func(net.Addr, *idgen.Generator) // called once listening; may be nil
}

// run serves until ctx is done, then shuts down gracefully and releases
// the worker ID.
func run(ctx context.Context, cfg config) error {
	ropts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL %q: %w", cfg.redisURL, err)
	}
	client := redis.NewClient(ropts)
	defer client.Close()

	opts := cfg.opts
	opts.Logger = cfg.logger
	gen, err := idgen.New(ctx, client, opts)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			_ = gen.Close(context.Background())
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(gen, metrics.Options{}), collectors.NewGoCollector())

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newHandler(gen, reg, cfg.logger),
		ReadHeaderTimeout: 5 * time.Second,
	}
	cfg.logger.Info("serving IDs", "addr", ln.Addr().String(), "namespace", gen.Namespace(), "worker", gen.WorkerID())
	if cfg.ready != nil {
		cfg.ready(ln.Addr(), gen)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	var genErr error
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-gen.Done():
		genErr = gen.Err() // the lease was lost under the Fail policy
		cfg.logger.Error("generator stopped", "err", genErr)
	}
	// Stop taking requests and let in-flight ones finish, then release
	// the worker ID: the order matters, a request must not find the
	// generator closed under it.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		_ = srv.Close() // connections still open after the grace period
	}
	closed = true
	closeErr := gen.Close(sctx)
	cfg.logger.Info("stopped; worker ID released", "worker", gen.WorkerID())
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return errors.Join(genErr, shutdownErr, closeErr)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	ns := flag.String("namespace", "httpservice", "lease namespace")
	flag.Parse()
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379"
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, config{addr: *addr, redisURL: redisURL, opts: idgen.Options{Namespace: *ns}, logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpservice:", err)
		os.Exit(1)
	}
}
