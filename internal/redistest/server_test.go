package redistest

import (
	"context"
	"testing"
	"time"
)

func TestStartPauseRestart(t *testing.T) {
	s := Start(t, Config{})
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	s.Pause()
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := c.Ping(pctx).Err()
	cancel()
	if err == nil {
		t.Fatal("ping answered while the server was paused")
	}
	s.Resume()

	s.Restart()
	n, err := c.Exists(ctx, "k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("key survived a restart without persistence")
	}
}

func TestPersistSurvivesRestart(t *testing.T) {
	s := Start(t, Config{Persist: true})
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	v, err := c.Get(ctx, "k").Result()
	if err != nil || v != "v" {
		t.Fatalf("after restart with AOF: %q, %v", v, err)
	}
}
