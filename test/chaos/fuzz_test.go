package chaos_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/snowlease/idgen/snowflake"
	"github.com/snowlease/idgen/test/chaos"
)

// FuzzCheckFile feeds arbitrary bytes to the ID-file reader through Check:
// a damaged or hostile file gives an error or a report, never a panic or a
// huge allocation.
func FuzzCheckFile(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.ids")
	w, err := chaos.Create(path, chaos.Header{Name: "seed", PID: 1, Layout: testLayout, Started: time.Unix(1700000000, 0)})
	if err != nil {
		f.Fatal(err)
	}
	ids := []snowflake.ID{}
	for seq := range int64(5) {
		id, err := testLayout.Compose(snowflake.Parts{Tick: 1000, Worker: 2, Sequence: seq})
		if err != nil {
			f.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := w.Batch(ids, 2, 1001, time.Unix(1700000001, 0)); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.ids")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = chaos.Check([]string{p})
	})
}
