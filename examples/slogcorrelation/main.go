// Command slogcorrelation shows request correlation with idgen and log/slog:
// an HTTP middleware gives every request a fresh ID, puts it in the
// request's context and in the X-Request-Id response header, and a
// slog.Handler wrapper adds it to every record logged with that context,
// however deep in the call stack.
//
//	REDIS_URL=redis://127.0.0.1:6379 go run ./examples/slogcorrelation
//	curl -i localhost:8080/hello?name=ada
//
// Every log line of that request carries the same "request_id", equal to
// the X-Request-Id header. The only rule for handlers is to log with the
// request's context: logger.InfoContext(r.Context(), ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// ctxKey is the context key of the request ID.
type ctxKey struct{}

// WithRequestID returns a context carrying id.
func WithRequestID(ctx context.Context, id snowflake.ID) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request ID in ctx, if any.
func RequestID(ctx context.Context) (snowflake.ID, bool) {
	id, ok := ctx.Value(ctxKey{}).(snowflake.ID)
	return id, ok
}

// Handler wraps a slog.Handler and adds the attribute request_id to every
// record whose context carries a request ID. It is safe for concurrent use
// when the wrapped handler is.
type Handler struct {
	inner slog.Handler
}

// NewHandler wraps inner.
func NewHandler(inner slog.Handler) *Handler { return &Handler{inner: inner} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := RequestID(ctx); ok {
		r = r.Clone() // the record may be shared with other handlers
		r.AddAttrs(slog.String("request_id", id.String()))
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler. Records of a grouped logger carry the
// request ID inside the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name)}
}

// Middleware gives each request an ID from ids, in its context and in the
// X-Request-Id response header, and logs the request's start and end with
// it. When no ID can be issued the request is refused with 503, so that no
// request goes unlogged.
func Middleware(ids idgen.Source, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := ids.Next()
		if err != nil {
			logger.ErrorContext(r.Context(), "no request ID available", "err", err)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "service unavailable: no request ID", http.StatusServiceUnavailable)
			return
		}
		ctx := WithRequestID(r.Context(), id)
		w.Header().Set("X-Request-Id", id.String())
		start := time.Now()
		logger.InfoContext(ctx, "request started", "method", r.Method, "path", r.URL.Path)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		logger.InfoContext(ctx, "request finished", "status", sw.status, "duration", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// greeter is the application: it knows nothing about request IDs, it only
// logs with the context it is given.
type greeter struct {
	logger *slog.Logger
}

func (g greeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		g.logger.WarnContext(r.Context(), "no name given")
		http.Error(w, "add ?name=", http.StatusBadRequest)
		return
	}
	msg := g.compose(r.Context(), name)
	fmt.Fprintln(w, msg)
}

// compose stands for work deep in the call stack: the context carries the
// request ID down to it.
func (g greeter) compose(ctx context.Context, name string) string {
	g.logger.DebugContext(ctx, "composing greeting", "name", name)
	msg := "hello, " + name
	g.logger.InfoContext(ctx, "greeting composed", "length", len(msg))
	return msg
}

// newMux wires the middleware around the application.
func newMux(ids idgen.Source, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /hello", greeter{logger: logger})
	return Middleware(ids, logger, mux)
}

type config struct {
	addr     string
	redisURL string
	opts     idgen.Options
	out      io.Writer           // log output
	ready    func(addr net.Addr) // called once the server listens; may be nil
}

func run(ctx context.Context, cfg config) error {
	logger := slog.New(NewHandler(slog.NewJSONHandler(cfg.out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ropts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL %q: %w", cfg.redisURL, err)
	}
	client := redis.NewClient(ropts)
	defer client.Close()

	opts := cfg.opts
	opts.Logger = logger
	gen, err := idgen.New(ctx, client, opts)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := gen.Close(cctx); err != nil {
			logger.Error("releasing the worker ID", "err", err)
		}
	}()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newMux(gen, logger), ReadHeaderTimeout: 5 * time.Second}
	logger.Info("listening", "addr", ln.Addr().String(), "worker", gen.WorkerID())
	if cfg.ready != nil {
		cfg.ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // connections still open after the grace period
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := config{addr: *addr, redisURL: redisURL, out: os.Stdout, opts: idgen.Options{Namespace: "slogcorrelation"}}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "slogcorrelation:", err)
		os.Exit(1)
	}
}
