package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// stderrHandler is the slog.Handler of the commands that run a generator:
// warnings and errors from the library go to stderr, prefixed with the
// command, and so does the one piece of news worth a person's attention:
// a start-up wait of a second or more.
type stderrHandler struct {
	mu  *sync.Mutex
	w   io.Writer
	cmd string
}

func newStderrLogger(w io.Writer, cmd string) *slog.Logger {
	return slog.New(&stderrHandler{mu: &sync.Mutex{}, w: w, cmd: cmd})
}

func (h *stderrHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *stderrHandler) Handle(_ context.Context, r slog.Record) error {
	var line string
	switch {
	case r.Level >= slog.LevelWarn:
		var b strings.Builder
		fmt.Fprintf(&b, "idgen %s: %s: %s", h.cmd, strings.ToLower(r.Level.String()), r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		line = b.String()
	case strings.HasPrefix(r.Message, "idgen: waiting for the clock"):
		var wait time.Duration
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "wait" {
				wait = a.Value.Duration()
			}
			return true
		})
		if wait < time.Second {
			return nil
		}
		line = fmt.Sprintf("idgen %s: waiting %v before the first ID: a namespace Redis has not seen before "+
			"(or that lost its data) starts after a quarantine of TTL + MaxSkew", h.cmd, wait.Round(time.Millisecond))
	default:
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := fmt.Fprintln(h.w, line)
	return err
}

func (h *stderrHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *stderrHandler) WithGroup(string) slog.Handler      { return h }
