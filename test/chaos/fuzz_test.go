package chaos_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	require.NoError(f, err)
	ids := []snowflake.ID{}
	for seq := range int64(5) {
		id, err := testLayout.Compose(snowflake.Parts{Tick: 1000, Worker: 2, Sequence: seq})
		require.NoError(f, err)
		ids = append(ids, id)
	}
	require.NoError(f, w.Batch(ids, 2, 1001, time.Unix(1700000001, 0)))
	require.NoError(f, w.Close())
	seed, err := os.ReadFile(path)
	require.NoError(f, err)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.ids")
		require.NoError(t, os.WriteFile(p, data, 0o600))
		_, _ = chaos.Check([]string{p})
	})
}

// FuzzAOFBoundary: the AOF cutter's RESP reader never panics and never
// returns an offset past the limit or a command longer than its input.
func FuzzAOFBoundary(f *testing.F) {
	f.Add([]byte("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n"), 40)
	f.Add([]byte("*1\r\n$99999999999999999999\r\nx\r\n"), 10)
	f.Add([]byte("*9223372036854775807\r\n$9223372036854775807\r\n"), 30)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit < 0 || limit > len(b) {
			limit = len(b)
		}
		off := aofBoundary(b, limit)
		require.GreaterOrEqual(t, off, 0, "aofBoundary(%q, %d)", b, limit)
		require.LessOrEqual(t, off, limit, "aofBoundary(%q, %d)", b, limit)
		if _, n, ok := respCommand(b); ok {
			require.Positive(t, n, "respCommand(%q) length", b)
			require.LessOrEqual(t, n, len(b), "respCommand(%q) length", b)
		}
	})
}
